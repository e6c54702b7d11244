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

  it('copy only paths that exist and start the CLI the package declares', () => {
    const copies = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    expect(copies.length).toBeGreaterThan(3);
    for (const path of copies) expect(existsSync(join(ROOT, path)), path).toBe(true);
    expect(dockerfile).toContain(`/app/${pkg.bin.anyturn}`);
  });

  it('compose runs known commands with the image built from the Dockerfile', () => {
    const compose = parseYaml(readFileSync(join(ROOT, 'deploy/docker-compose.yml'), 'utf8')) as {
      services: Record<string, { image?: string; build?: { dockerfile: string }; command: string[] }>;
    };
    const cli = readFileSync(join(ROOT, 'bin/anyturn.ts'), 'utf8');
    const anyturn = Object.entries(compose.services).filter(([, s]) => s.image === 'anyturn');
    expect(anyturn.length).toBeGreaterThanOrEqual(3);
    for (const [, service] of anyturn) {
      expect(cli).toContain(`  ${service.command[0]}: {`);
      expect(service.command).toContain('--config');
    }
    const built = Object.values(compose.services).find((s) => s.build);
    expect(built?.build?.dockerfile).toBe('deploy/Dockerfile');
  });
});
