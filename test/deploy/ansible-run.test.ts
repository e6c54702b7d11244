/**
 * A real run of the Ansible roles (deploy/ansible/site.yml) against hosts this test builds: a lab PoP (a router
 * namespace and two relay namespaces on its LAN), each running Debian's sshd on its LAN address (host key and
 * client key made here). ansible-playbook runs in the router namespace and reaches every host over SSH, as from
 * a real controller. The hosts share this machine's filesystem, so each gets its own directories instead of /etc
 * and /opt, and `anyturn_service_manager: daemon` (there is no systemd here): the real modules install the packed tarball,
 * set sysctls, put G on lo, load nftables, render and validate the configs, start the relays one at a time,
 * BIRD and the agent. Asserted: the first run succeeds, the installed relays answer STUN on their unicast
 * addresses, G is on lo, BIRD runs with the agent's include, the agent announces; a second run changes nothing
 * (changed=0 on every host); a changed setting that needs a restart restarts the relays one at a time after
 * draining each; a changed secret is applied in place (POST /reload), without a restart.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { labDown, labUp, type Lab, type LabPop } from '../lab/lab.js';
import { nodeIn } from '../lab/proc.js';
import { processAlive, sh, spawnIn, stopChild, waitFor } from '../lab/netns.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const ANSIBLE = join(ROOT, 'deploy/ansible');
const prefix = `atna${randomBytes(2).toString('hex')}-`;
const G = '198.18.7.1';
const base = mkdtempSync(join(tmpdir(), 'anyturn-ansible-'));
let lab: Lab;
let pop: LabPop;
let inventory: string;
const hostDirs = new Map<string, string>();
const sshds: ChildProcess[] = [];

interface Recap { ok: number; changed: number; failed: number; unreachable: number }

async function playbook(...extra: string[]): Promise<{ out: string; recap: Map<string, Recap> }> {
  const env = {
    ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_PIPELINING: '1', ANSIBLE_LOCALHOST_WARNING: 'false',
    ANSIBLE_LOCAL_TEMP: join(base, 'ansible-local'), ANSIBLE_REMOTE_TEMP: join(base, 'ansible-remote'),
    ANSIBLE_RETRY_FILES_ENABLED: 'false', ANSIBLE_FORKS: '5', ANSIBLE_HOST_KEY_CHECKING: 'false',
    ANSIBLE_SSH_CONTROL_PATH_DIR: join(base, 'cp'),
  };
  const res = await run('ip', ['netns', 'exec', pop.ns, 'ansible-playbook', '-i', inventory, 'site.yml', ...extra], { cwd: ANSIBLE, env, maxBuffer: 64 << 20, timeout: 240_000 })
    .catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`ansible-playbook failed:\n${(err.stdout ?? '').slice(-6000)}\n${err.stderr ?? ''}`);
    });
  const recap = new Map<string, Recap>();
  for (const m of res.stdout.matchAll(/^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)) {
    recap.set(m[1], { ok: Number(m[2]), changed: Number(m[3]), unreachable: Number(m[4]), failed: Number(m[5]) });
  }
  return { out: res.stdout, recap };
}

/** A STUN Binding from the router namespace to a relay's unicast address; resolves with the mapped address. */
async function bindingFromRouter(address: string): Promise<string> {
  const script = `
    import dgram from 'node:dgram';
    import { randomBytes } from 'node:crypto';
    const s = dgram.createSocket('udp4');
    const req = Buffer.concat([Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42]), randomBytes(12)]);
    const timer = setInterval(() => s.send(req, 3478, '${address}'), 200);
    const deadline = setTimeout(() => { console.log('timeout'); process.exit(1); }, 5000);
    s.on('message', (m) => { clearInterval(timer); clearTimeout(deadline); console.log(m.readUInt16BE(0).toString(16)); s.close(); });
    s.bind(0, () => s.send(req, 3478, '${address}'));
  `;
  return (await nodeIn(pop.ns, script).catch(() => 'timeout')).trim();
}

/** The end of a daemon's log, for failure messages. */
function logTail(host: string, daemon: string): string {
  const file = join(hostDirs.get(host)!, 'state', `${daemon}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8').slice(-2000) : `(no ${file})`;
}

function pidOf(host: string, daemon: string): number | undefined {
  const file = join(hostDirs.get(host)!, 'state', `${daemon}.pid`);
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : undefined;
}

beforeAll(async () => {
  lab = await labUp({ prefix, relaysPerPop: 2, clients: 1 });
  pop = lab.pops[0];
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', base], { cwd: ROOT, maxBuffer: 16 << 20 });
  const tarball = join(base, stdout.trim().split('\n').pop()!);

  // SSH: one client key, one host key; an sshd per host namespace on its LAN address, started and stopped by PID.
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(base, 'id')]);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(base, 'hostkey')]);
  mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation directory (Debian's path)
  const startSshd = async (name: string, ns: string, address: string) => {
    const config = join(base, `sshd-${name}.conf`);
    writeFileSync(config, [
      `ListenAddress ${address}:22`, `HostKey ${join(base, 'hostkey')}`, `PidFile ${join(base, `sshd-${name}.pid`)}`,
      `AuthorizedKeysFile ${join(base, 'id.pub')}`, 'StrictModes no', 'UsePAM no', 'PermitRootLogin prohibit-password',
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'Subsystem sftp internal-sftp', '',
    ].join('\n'));
    const sshd = spawnIn(ns, '/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    sshds.push(sshd);
    let log = '';
    sshd.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
    });
    await waitFor(`sshd in ${ns}`, () => {
      if (sshd.exitCode !== null) throw new Error(`sshd exited: ${log}`);
      return log.includes('Server listening') || undefined;
    }, 15_000, 50);
  };
  const hostVars = (name: string, address: string) => {
    const dir = join(base, name);
    hostDirs.set(name, dir);
    for (const d of ['etc', 'state', 'bird', 'run']) mkdirSync(join(dir, d), { recursive: true });
    return {
      ansible_host: address, ansible_user: 'root', ansible_become: false, ansible_python_interpreter: '/usr/bin/python3',
      ansible_ssh_private_key_file: join(base, 'id'), ansible_ssh_common_args: '-o UserKnownHostsFile=/dev/null',
      anyturn_install_dir: join(dir, 'opt'), anyturn_state_dir: join(dir, 'state'), anyturn_config_dir: join(dir, 'etc'),
      anyturn_sysctl_file: join(dir, 'sysctl.conf'), anyturn_nft_file: join(dir, 'anyturn.nft'),
    };
  };
  await Promise.all([...pop.relays.map((r) => startSshd(r.id, r.ns, r.address)), startSshd('router', pop.ns, pop.lanAddress)]);
  const relays = Object.fromEntries(pop.relays.map((r) => [r.id, { ...hostVars(r.id, r.address), anyturn_unicast: r.address }]));
  const routerName = `${pop.name}-router`;
  inventory = join(base, 'inventory.yml');
  writeFileSync(inventory, toYaml({
    all: {
      vars: {
        anyturn_package: tarball, anyturn_nodejs_install: 'none', anyturn_node_bin: process.execPath,
        anyturn_service_manager: 'daemon', anyturn_create_user: false,
        anyturn_user: 'root', anyturn_anycast: [G], anyturn_announced_prefixes: ['198.18.7.0/24'], anyturn_realm: 'example.org',
        anyturn_auth_secrets: ['ansible-rest-secret'], anyturn_nonce_key: 'ab'.repeat(32), anyturn_pop: pop.name,
        anyturn_drain_timeout: 10, anyturn_drain_poll: 1, anyturn_local_as: 65001,
      },
      children: {
        localhost_group: { hosts: { localhost: { ansible_connection: 'local', ansible_python_interpreter: '/usr/bin/python3' } } },
        anyturn_redis: { hosts: {} },
        anyturn_relays: { hosts: relays },
        anyturn_routers: {
          hosts: {
            [routerName]: {
              ...hostVars(routerName, pop.lanAddress), anyturn_router_id: pop.lanAddress, anyturn_lan_interface: pop.lanDev,
              anyturn_broadcast_next_hop: pop.broadcastNextHop, anyturn_install_packages: false,
              anyturn_bird_dir: join(base, routerName, 'bird'), anyturn_bird_socket: join(base, routerName, 'run', 'bird.ctl'),
              anyturn_bgp_neighbors: [{ name: 'isp', address: pop.peerAddress, as: 64500 }],
            },
          },
        },
      },
    },
  }));
}, 120_000);

afterAll(async () => {
  await Promise.all(sshds.map((p) => stopChild(p, 'SIGTERM')));
  for (const host of hostDirs.keys()) {
    for (const daemon of ['relay', 'agent', 'bird']) {
      const pid = pidOf(host, daemon);
      if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  if (lab) await labDown(prefix);
  rmSync(base, { recursive: true, force: true });
});

describe('ansible-playbook site.yml against lab hosts', () => {
  it('a first run installs and starts everything; the relays answer; BIRD and the agent run', async () => {
    const { recap } = await playbook();
    expect([...recap.keys()].sort()).toEqual([...pop.relays.map((r) => r.id), `${pop.name}-router`].sort());
    for (const [host, r] of recap) {
      expect(r.failed, host).toBe(0);
      expect(r.changed, host).toBeGreaterThan(0);
    }
    for (const r of pop.relays) {
      expect(await bindingFromRouter(r.address), logTail(r.id, 'relay')).toBe('101'); // Binding success response
      const lo = await sh('ip', ['-n', r.ns, '-o', 'addr', 'show', 'dev', 'lo']);
      expect(lo.stdout).toContain(`${G}/32`);
      expect((await sh('ip', ['netns', 'exec', r.ns, 'nft', 'list', 'table', 'inet', 'anyturn_relay'])).stdout).toContain('dport 9641 drop');
    }
    const router = `${pop.name}-router`;
    const socket = join(base, router, 'run', 'bird.ctl');
    const status = await sh('birdc', ['-s', socket, 'show', 'protocols']);
    expect(status.stdout).toContain('anyturn_anycast4');
    // The agent takes over the include file from Ansible's withdrawn placeholder once both relays are healthy.
    await waitFor('the agent to announce', () => (readFileSync(join(base, router, 'bird', 'anyturn.conf'), 'utf8').includes('state: announce') || undefined), 20_000, 200);
  }, 300_000);

  it('a second run changes nothing', async () => {
    const { recap } = await playbook();
    for (const [host, r] of recap) expect([host, r.changed, r.failed]).toEqual([host, 0, 0]);
  }, 300_000);

  it('a changed setting restarts the relays one at a time, each drained first', async () => {
    const before = new Map(pop.relays.map((r) => [r.id, pidOf(r.id, 'relay')]));
    const { out, recap } = await playbook('-e', 'anyturn_capacity=9000', '--limit', 'anyturn_relays');
    for (const r of pop.relays) {
      expect(recap.get(r.id)?.failed).toBe(0);
      expect(pidOf(r.id, 'relay')).not.toBe(before.get(r.id));
      expect(readFileSync(join(hostDirs.get(r.id)!, 'state', 'relay.log'), 'utf8')).toContain('drain state set over HTTP');
      expect(await bindingFromRouter(r.address)).toBe('101');
    }
    // serial: 1 — each relay is drained and restarted in its own batch, the second after the first is healthy.
    const batches = out.split(/^PLAY \[Deploy the anyturn relays/m).length - 1;
    expect(batches).toBe(2);
    const order = [...out.matchAll(/^TASK \[anyturn_relay : (Drain|Wait until the relay is healthy)/gm)].map((m) => m[1]);
    expect(order).toEqual(['Drain', 'Wait until the relay is healthy', 'Drain', 'Wait until the relay is healthy']);
  }, 300_000);

  it('a changed secret is reloaded in place: same process, no drain', async () => {
    const r = pop.relays[0];
    const pid = pidOf(r.id, 'relay');
    const reloads = () => (readFileSync(join(hostDirs.get(r.id)!, 'state', 'relay.log'), 'utf8').match(/"event":"reloaded"/g) ?? []).length;
    const before = reloads();
    const { out, recap } = await playbook('-e', '{"anyturn_capacity": 9000, "anyturn_auth_secrets": ["ansible-rest-secret", "second-secret"]}', '--limit', r.id);
    expect(recap.get(r.id)).toMatchObject({ failed: 0 });
    expect(recap.get(r.id)!.changed).toBeGreaterThan(0);
    expect(out).not.toMatch(/^TASK \[anyturn_relay : Drain/m);
    expect(pidOf(r.id, 'relay')).toBe(pid);
    expect(processAlive(pid!)).toBe(true);
    expect(reloads()).toBe(before + 1);
    expect(await bindingFromRouter(r.address)).toBe('101');
  }, 300_000);
});
