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
  const includeFile = join(out, 'anyturn.conf');
  await run(
    'ansible-playbook',
    [
      '-i', join(ANSIBLE, 'inventory/example.yml'),
      join(ROOT, 'test/deploy/render.yml'),
      '-e', `out=${out}`,
      '-e', `anyturn_bird_include=${includeFile}`,
      '-e', 'vault_anyturn_auth_secret=rest-secret-for-the-test',
      '-e', `vault_anyturn_nonce_key=${'ab'.repeat(16)}`,
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
  });

  it('render configurations that the relay, the agent and BIRD accept', async () => {
    const files = await renderInventory();
    const relays = files.filter((f) => f.endsWith('.relay.yaml'));
    const agents = files.filter((f) => f.endsWith('.agent.yaml'));
    expect(relays).toHaveLength(3);
    expect(agents).toHaveLength(1);

    for (const f of relays) {
      const config = loadRelayConfig(['--config', join(out, f)]);
      expect(config.anycast).toEqual(['198.18.0.1']);
      expect(config.listen).toEqual(config.relayIp);
      expect(config.authSecret).toEqual(['rest-secret-for-the-test']);
    }

    const { config: agent } = loadAgentCommand(['--config', join(out, agents[0]), '--once']);
    expect(agent.relays.map((r) => r.address)).toEqual(['10.9.9.11', '10.9.9.12', '10.9.9.13']);
    expect(agent.bgp).toBeDefined();

    // BIRD parses the operator's bird.conf with the include file the agent renders.
    writeFileSync(
      join(out, 'anyturn.conf'),
      renderBgpInclude({ prefixes: agent.anycast, prependAs: agent.bgp!.prependAs }, { action: 'announce', prepend: 2 }),
    );
    const bird = await run('bird', ['-p', '-c', join(out, 'fra-router.bird.conf')]).catch(
      (err: { stderr?: string }) => {
        throw new Error(`bird -p refused the rendered configuration: ${err.stderr ?? ''}`);
      },
    );
    expect(bird.stderr).toBe('');
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
