/**
 * `anyturn-lab up|status|down` leaves nothing behind, and the topology it builds routes
 * what it should: clients reach every relay's unicast address through inet and the
 * PoP router; relays hold G on lo with arp_ignore/arp_announce set.
 */
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labDown, labLayout, labNamespaces, labStatus, labUp } from '../../lab/lab.js';
import { ipJson, listNamespaces, processAlive, randomPrefix, sh } from '../../lab/netns.js';
import { labBin, nodeIn, startStunResponder, type LabProcess } from '../../lab/proc.js';

const CLI_PREFIX = randomPrefix('atnl-lcli');
const LIB_PREFIX = randomPrefix('atnl-llib');
const started: LabProcess[] = [];

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop('SIGKILL')));
  await labDown(CLI_PREFIX);
  await labDown(LIB_PREFIX);
});

function labCli(...args: string[]) {
  return sh(process.execPath, [labBin(), ...args], { allowFail: true, timeoutMs: 60_000 });
}

/** A STUN Binding from `ns` to ip:3478; resolves with the responder's address:port or 'timeout'. */
function bindingFrom(ns: string, ip: string): Promise<string> {
  return nodeIn(ns, `
    import { createSocket } from 'node:dgram';
    import { randomBytes } from 'node:crypto';
    const req = Buffer.alloc(20); req.writeUInt16BE(1, 0); req.writeUInt32BE(0x2112a442, 4); randomBytes(12).copy(req, 8);
    const s = createSocket(${JSON.stringify(ip.includes(':') ? 'udp6' : 'udp4')});
    const deadline = setTimeout(() => { console.log('timeout'); process.exit(0); }, 3000);
    s.on('message', (m, r) => {
      if (m.readUInt16BE(0) !== 0x0101 || !m.subarray(8, 20).equals(req.subarray(8, 20))) return;
      clearTimeout(deadline); console.log(r.address + ':' + r.port); process.exit(0);
    });
    s.send(req, 3478, ${JSON.stringify(ip)});
  `).then((out) => out.trim());
}

describe('anyturn-lab (CLI)', () => {
  it('up --relays stub --agent, status, down: nothing is left behind', async () => {
    // Other engineers' labs may come and go on a shared machine: look at what this run could touch.
    const ours = (names: string[]) => names.filter((n) => n.startsWith(CLI_PREFIX)).sort();
    expect(ours(await listNamespaces())).toEqual([]);
    const up = await labCli('up', '--prefix', CLI_PREFIX, '--relays', 'stub', '--agent');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('anycast G = 198.18.0.1');

    const layout = labLayout({ prefix: CLI_PREFIX });
    expect((await listNamespaces(CLI_PREFIX)).sort()).toEqual(labNamespaces(layout).sort());

    const again = await labCli('up', '--prefix', CLI_PREFIX);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('ATN_ERR_LAB_SETUP');

    const status = await labCli('status', '--prefix', CLI_PREFIX);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`${CLI_PREFIX}pop1-r2`);
    expect(status.stdout).toContain('eth0=10.9.9.12/24');
    expect(status.stdout).toContain('stun-responder.js --name pop1-r3');
    expect(status.stdout).toContain('anyturn.js agent --config');

    const json = JSON.parse((await labCli('status', '--prefix', CLI_PREFIX, '--json')).stdout) as Awaited<ReturnType<typeof labStatus>>;
    const pids = json.flatMap((s) => s.processes.map((p) => p.pid));
    expect(pids.length).toBeGreaterThanOrEqual(4); // three relays and the agent (plus its ip monitor)
    // The agent converged: the TCP group holds the three stand-in relays.
    const nexthops = await ipJson(layout.pops[0].ns, ['nexthop', 'show', 'id', '1000']);
    expect((nexthops[0].group as unknown[]).length).toBe(3);
    expect(existsSync(join(tmpdir(), `anyturn-lab-${CLI_PREFIX}`))).toBe(true);

    const down = await labCli('down', '--prefix', CLI_PREFIX);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('removed 7 namespaces');
    expect(ours(await listNamespaces())).toEqual([]);
    expect(pids.filter(processAlive)).toEqual([]);
    expect(existsSync(join(tmpdir(), `anyturn-lab-${CLI_PREFIX}`))).toBe(false);
    expect((await labCli('status', '--prefix', CLI_PREFIX)).stdout).toContain('no lab');
  });

  it('refuses a bad prefix and an unknown verb with stable codes', async () => {
    const bad = await labCli('up', '--prefix', 'X/../y');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('ATN_ERR_LAB_SETUP');
    const verb = await labCli('sideways');
    expect(verb.stderr).toContain('ATN_ERR_CLI_USAGE');
  });
});

describe('lab topology (library)', () => {
  it('builds two dual-stack PoPs whose relays are reachable from the clients by unicast, with G and G6 on lo', async () => {
    const lab = await labUp({ prefix: LIB_PREFIX, pops: 2, relaysPerPop: 2 });
    expect(lab.pops.map((p) => p.lanNetwork)).toEqual(['10.9.9.0/24', '10.9.10.0/24']);
    expect(lab.pops[1].relays.map((r) => r.address)).toEqual(['10.9.10.11', '10.9.10.12']);

    for (const pop of lab.pops) {
      for (const r of pop.relays) {
        const lo = await ipJson(r.ns, ['addr', 'show', 'dev', 'lo']);
        const addrs = (lo[0].addr_info as { local: string }[]).map((a) => a.local);
        expect(addrs).toContain(lab.anycast);
        expect(addrs).toContain(lab.anycast6);
        for (const key of ['all', 'eth0']) {
          expect((await sh('sysctl', ['-n', `net.ipv4.conf.${key}.arp_ignore`], { ns: r.ns })).stdout.trim()).toBe('1');
          expect((await sh('sysctl', ['-n', `net.ipv4.conf.${key}.arp_announce`], { ns: r.ns })).stdout.trim()).toBe('2');
        }
      }
    }

    const targets = [lab.pops[0].relays[1], lab.pops[1].relays[0]];
    for (const r of targets) started.push(await startStunResponder(r.ns, r.id, { udp: [`${r.address}:3478`, `[${r.address6}]:3478`] }));
    for (const client of lab.clients) {
      for (const r of targets) {
        expect(await bindingFrom(client.ns, r.address)).toBe(`${r.address}:3478`);
        expect(await bindingFrom(client.ns, r.address6)).toBe(`${r.address6}:3478`);
      }
    }
    // The inet router sends G to pop1 (static, until BGP does it).
    const route = await ipJson(lab.inet.ns, ['route', 'get', lab.anycast]);
    expect(route[0]).toMatchObject({ gateway: lab.pops[0].uplinkAddress, dev: 'pop1' });

    const removed = await labDown(LIB_PREFIX);
    expect(removed.sort()).toEqual(labNamespaces(lab).sort());
    expect(await listNamespaces(LIB_PREFIX)).toEqual([]);
  });
});
