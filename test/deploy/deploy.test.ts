/**
 * The deployment files are checked by linting and by loading what they render with
 * the daemons' own config loaders (there is no Docker engine here, and Ansible
 * cannot reach real hosts): ansible-lint (production profile) and a syntax check
 * of the playbook; every relay.yaml and agent.yaml the roles render for the example
 * inventory passes the relay's and the agent's schema; BIRD parses the rendered
 * bird.conf together with the agent's include file; the Dockerfile and compose
 * file only name paths and commands that exist.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadRelayConfig } from '../../src/config/schema.js';
import { loadAgentCommand } from '../../src/config/agent-schema.js';
import { renderBgpInclude } from '../../router-agent/bgp-include.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const ANSIBLE = join(ROOT, 'deploy/ansible');
const out = mkdtempSync(join(tmpdir(), 'anyturn-deploy-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

async function renderInventory(): Promise<string[]> {
  await run(
    'ansible-playbook',
    [
      '-i', join(ANSIBLE, 'inventory/example.yml'),
      join(ROOT, 'test/deploy/render.yml'),
      '-e', `out=${out}`,
      // The bird.conf of each router includes the file rendered next to it.
      '-e', `anyturn_bird_dir=${out}`,
      '-e', 'vault_anyturn_auth_secret=rest-secret-for-the-test',
      '-e', `vault_anyturn_nonce_key=${'ab'.repeat(16)}`,
      '-e', 'vault_anyturn_admin_token=admin-token-for-the-test',
      '-e', 'vault_anyturn_redis_password=redis-password-for-the-test',
    ],
    { cwd: ANSIBLE, env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'false' } },
  ).catch((err: { stdout?: string }) => {
    throw new Error(`rendering the roles' templates failed:\n${err.stdout ?? ''}`);
  });
  return readdirSync(out);
}

describe('Ansible roles', () => {
  it('pass ansible-lint (production profile) and the playbook syntax check', async () => {
    const env = { ...process.env, ANSIBLE_NOCOLOR: '1', NO_COLOR: '1' };
    await run('ansible-playbook', ['-i', 'inventory/example.yml', 'site.yml', '--syntax-check'], { cwd: ANSIBLE, env });
    const lint = await run('ansible-lint', ['--offline', '--profile', 'production', 'site.yml'], { cwd: ANSIBLE, env }).catch(
      (err: { stdout?: string; stderr?: string }) => {
        throw new Error(`ansible-lint failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      },
    );
    expect(`${lint.stdout}${lint.stderr}`).toMatch(/Passed/);
    const requirements = parseYaml(readFileSync(join(ANSIBLE, 'requirements.yml'), 'utf8')) as { collections: { name: string }[] };
    expect(requirements.collections.map((c) => c.name)).toContain('ansible.posix');
  });

  it('render, for the two-PoP example inventory, configurations that the relay, the agent, nft and BIRD accept', async () => {
    const files = await renderInventory();
    const relays = files.filter((f) => f.endsWith('.relay.yaml')).sort();
    const agents = files.filter((f) => f.endsWith('.agent.yaml')).sort();
    expect(relays).toEqual(['ams-relay-1.relay.yaml', 'ams-relay-2.relay.yaml', 'fra-relay-1.relay.yaml', 'fra-relay-2.relay.yaml']);
    expect(agents).toEqual(['ams-router.agent.yaml', 'fra-router.agent.yaml']);

    for (const f of relays) {
      const config = loadRelayConfig(['--config', join(out, f)]);
      expect(config.anycast).toEqual(['198.18.0.1', '2001:db8:a::1']);
      expect(config.listen).toEqual(config.relayIp);
      expect(config.authSecret).toEqual(['rest-secret-for-the-test']);
      expect(config.adminToken).toBe('admin-token-for-the-test');
      expect(config.metrics?.address).not.toBe(config.listen[0]);
    }
    expect(loadRelayConfig(['--config', join(out, 'ams-relay-1.relay.yaml')]).externalIp).toEqual([{ public: '203.0.113.11', private: '10.8.8.11' }]);

    for (const f of agents) {
      const { config: agent } = loadAgentCommand(['--config', join(out, f), '--once']);
      expect(agent.relays).toHaveLength(2);
      expect(agent.bgp?.prefixes).toEqual(['198.18.0.0/24', '2001:db8:a::/48']);
      const router = f.replace('.agent.yaml', '');
      // The include Ansible writes before the agent ever ran is exactly what the agent renders when withdrawn
      // (apart from the comment saying who wrote it), and BIRD parses bird.conf with it.
      const placeholder = readFileSync(join(out, `${router}.anyturn.conf`), 'utf8');
      const rendered = renderBgpInclude({ prefixes: agent.bgp!.prefixes!, prependAs: agent.bgp!.prependAs }, { action: 'withdraw', prepend: 0 });
      const strip = (text: string) => text.split('\n').filter((l) => !l.startsWith('#') && l.trim() !== '').join('\n');
      expect(strip(placeholder)).toBe(strip(rendered));
      writeFileSync(join(out, 'anyturn.conf'), placeholder);
      const bird = await run('bird', ['-p', '-c', join(out, `${router}.bird.conf`)]).catch((err: { stderr?: string }) => {
        throw new Error(`bird -p refused the rendered configuration: ${err.stderr ?? ''}`);
      });
      expect(bird.stderr).toBe('');
      // And with the agent's announce form.
      writeFileSync(join(out, 'anyturn.conf'), renderBgpInclude({ prefixes: agent.bgp!.prefixes!, prependAs: agent.bgp!.prependAs }, { action: 'announce', prepend: 2 }));
      await run('bird', ['-p', '-c', join(out, `${router}.bird.conf`)]);
    }

    // nft checks the rendered tables (-c: parse and evaluate only, nothing is loaded).
    for (const f of files.filter((name) => name.endsWith('.nft'))) {
      await run('nft', ['-c', '-f', join(out, f)]).catch((err: { stderr?: string }) => {
        throw new Error(`nft -c refused ${f}: ${err.stderr ?? ''}`);
      });
    }
  });

  it('refuse an inventory without the required variables, naming the variable', async () => {
    const bad = join(out, 'bad-inventory.yml');
    writeFileSync(bad, 'all:\n  children:\n    anyturn_relays:\n      hosts:\n        r1: { ansible_connection: local, ansible_become: false, anyturn_pop: fra }\n');
    const res = await run('ansible-playbook', ['-i', bad, 'site.yml', '--limit', 'r1'], {
      cwd: ANSIBLE, env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'false' },
    }).then(() => undefined, (err: { stdout?: string }) => err.stdout ?? '');
    expect(res).toBeDefined();
    expect(res).toContain('anyturn_relay on r1: set anyturn_unicast');
  });
});

describe('Docker files', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  type Service = {
    image?: string; build?: { dockerfile: string; target: string }; command?: string[]; network_mode?: string;
    networks?: Record<string, { ipv4_address: string }>; volumes?: string[]; cap_add?: string[];
  };
  const compose = parseYaml(readFileSync(join(ROOT, 'deploy/docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
  const stage = (name: string) => dockerfile.slice(dockerfile.indexOf(` AS ${name}`)).split(/^FROM /m)[0];

  it('Dockerfile: multi-stage, copies only what exists, relay unprivileged with a HEALTHCHECK; .dockerignore', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(copies.length).toBeGreaterThan(5);
    for (const path of copies) expect(existsSync(join(ROOT, path)), path).toBe(true);
    expect([...dockerfile.matchAll(/^FROM \S+ AS (\w+)$/gm)].map((m) => m[1])).toEqual(['build', 'router', 'relay']);
    expect(stage('relay')).toMatch(/^USER node$/m);
    for (const name of ['relay', 'router']) {
      expect(stage(name)).toMatch(/^HEALTHCHECK /m);
      expect(stage(name)).not.toMatch(/COPY (?!--from=build)/);
    }
    expect(dockerfile).toContain(pkg.bin.anyturn.replace(/^dist\//, 'dist/'));
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', 'dist', '.git', 'test']) expect(ignore).toContain(entry);
    for (const path of copies) expect(ignore).not.toContain(path);
  });

  it('compose: one PoP whose relays each have their own namespace; every file it mounts loads in the real relay, agent and BIRD', async () => {
    const services = compose.services;
    const relays = Object.entries(services).filter(([, s]) => s.command?.[0] === 'relay');
    expect(relays.map(([n]) => n)).toEqual(['relay-1', 'relay-2']);
    const agentService = services.agent;
    const agentConfig = join(ROOT, 'deploy/docker', agentService.command![2].replace('/etc/anyturn/', ''));
    const { config: agent } = loadAgentCommand(['--config', agentConfig, '--once']);
    const lanAddresses = new Set<string>();
    for (const [name, service] of relays) {
      // The relay shares the namespace of its *-net service, whose LAN address is the relay's listen address.
      const netName = /^service:(.+)$/.exec(service.network_mode ?? '')?.[1];
      expect(netName, name).toBe(`${name}-net`);
      const net = services[netName!];
      expect(net.cap_add).toContain('NET_ADMIN');
      expect(service.cap_add, name).toBeUndefined();
      const file = join(ROOT, 'deploy/docker', service.command![2].replace('/etc/anyturn/', ''));
      const config = loadRelayConfig(['--config', file]);
      expect(config.listen).toEqual([net.networks!.lan.ipv4_address]);
      lanAddresses.add(config.listen[0]);
      expect(config.anycast).toEqual(agent.anycast);
      expect(String(net.command)).toContain(`ip addr replace ${config.anycast[0]}/32 dev lo`);
      expect(config.metrics).toEqual({ address: '127.0.0.1', port: 9641 });
      expect(agent.relays.map((r) => r.address)).toContain(config.listen[0]);
    }
    expect(lanAddresses.size).toBe(2);

    // BIRD parses the compose bird.conf with the seeded include, and the seed is the agent's own withdrawn file.
    const seed = readFileSync(join(ROOT, 'deploy/docker/anyturn.initial.conf'), 'utf8');
    expect(seed).toBe(renderBgpInclude({ prefixes: agent.bgp!.prefixes!, prependAs: agent.bgp!.prependAs }, { action: 'withdraw', prepend: 0 }));
    expect(agent.bgp!.includeFile).toBe('/var/lib/anyturn-bird/anyturn.conf');
    writeFileSync(join(out, 'docker-anyturn.conf'), seed);
    const birdConf = readFileSync(join(ROOT, 'deploy/docker/bird.conf'), 'utf8').replace(agent.bgp!.includeFile, join(out, 'docker-anyturn.conf'));
    expect(birdConf).toContain(join(out, 'docker-anyturn.conf'));
    writeFileSync(join(out, 'docker-bird.conf'), birdConf);
    const bird = await run('bird', ['-p', '-c', join(out, 'docker-bird.conf')]);
    expect(bird.stderr).toBe('');
    expect(String(services.bird.command)).toContain('cp /etc/anyturn/anyturn.initial.conf /var/lib/anyturn-bird/anyturn.conf');
    expect(services.agent.network_mode).toBe('service:bird');
    expect(services.bird.build?.target).toBe('router');
    expect(services['relay-1'].build?.target).toBe('relay');
  });
});
