/**
 * `anyturn import-coturn`: coturn's turnserver.conf -> an anyturn relay YAML the relay loads. On a fixture with
 * the options a production coturn sets, on Debian's real annotated /etc/turnserver.conf (coturn package, installed
 * by pretest), and on every option that file documents (each one mapped, implied or unsupported with a reason,
 * none unknown); docs/coturn.md lists exactly the option table; coturn flag names work as relay flags.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { longTermKey } from '../../../../src/auth/long-term.js';
import { COTURN_FLAG_ALIASES } from '../../../../src/config/coturn-aliases.js';
import { loadRelayConfig } from '../../../../src/config/schema.js';
import { COTURN_OPTIONS } from '../../../../src/coturn/coturn-options.js';
import { importCoturn, renderImport } from '../../../../src/coturn/import.js';
import { parseTurnserverConf } from '../../../../src/coturn/turnserver-conf.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../../../..');
const BIN = join(ROOT, 'dist/bin/anyturn.js');
const FIXTURE = join(import.meta.dirname, 'turnserver.active.conf');
const DEBIAN = '/etc/turnserver.conf';
const dir = mkdtempSync(join(tmpdir(), 'anyturn-coturn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function importFile(file: string): Promise<{ yaml: string; stderr: string; out: string }> {
  const { stdout, stderr } = await run(process.execPath, [BIN, 'import-coturn', file]);
  const out = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(out, stdout);
  return { yaml: stdout, stderr, out };
}

describe('anyturn import-coturn', () => {
  it('maps the active options of a production-like turnserver.conf into a YAML the relay loads', async () => {
    const { yaml, stderr, out } = await importFile(FIXTURE);
    const config = loadRelayConfig(['--config', out]);
    expect(config).toMatchObject({
      port: 3479, tlsPort: 5350, listen: ['192.0.2.10', '2001:db8::10'], relayIp: ['192.0.2.10', '2001:db8::10'],
      externalIp: [{ public: '203.0.113.10', private: '192.0.2.10' }], minPort: 40000, maxPort: 40999,
      realm: 'example.org', authSecret: ['north-secret', 'south-secret'], capacity: 500, userQuota: 12,
      maxBps: 250000, nonceTtl: 600, lifetimeMax: 1800, tlsCert: '/etc/ssl/turn/fullchain.pem',
      tlsKey: '/etc/ssl/turn/privkey.pem', software: '', metrics: { address: '127.0.0.1', port: 9650 }, logLevel: 'debug',
      allowPeer: ['10.9.0.5/32'],
      denyPeer: ['0.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12'],
    });
    // The hashed user is a key, not a password: bob's key is the one in the file.
    const users = new StaticUsers(config.user);
    expect(users.keysFor('bob', 'example.org', 0)).toEqual([Buffer.from('7ea4b3e4a01ec1e16ab3fd1a1e8a3dc0', 'hex')]);
    expect(users.keysFor('alice', 'example.org', 0)).toEqual([longTermKey('alice', 'example.org', 'wonderland')]);

    // Everything else is listed with its line and reason; no secret leaks into the comments.
    for (const [option, reason] of [
      ['fingerprint', 'FINGERPRINT is always added'], ['mobility', 'not supported'], ['redis-statsdb', 'Prometheus'],
      ['no-such-option', 'unknown coturn option'], ['cli-password=(hidden)', 'no telnet CLI'], ['log-file', 'JSON lines'],
      ['bps-capacity', 'no server-wide bandwidth cap'],
    ]) expect(yaml).toMatch(new RegExp(`^#   line \\d+: ${option.replace(/[()]/g, '\\$&')}.*${reason}`, 'm'));
    expect(yaml).not.toContain('qwerty');
    const listed = yaml.split('\n').filter((l) => l.startsWith('#   line ')).length;
    expect(listed).toBe(15);
    expect(stderr).toContain(`not imported`);
  });

  it("imports Debian's real /etc/turnserver.conf (its active options are all listed, the YAML loads)", async () => {
    const active = parseTurnserverConf(readFileSync(DEBIAN, 'utf8'));
    expect(active.length).toBeGreaterThan(0);
    const { yaml, out } = await importFile(DEBIAN);
    loadRelayConfig(['--config', out]);
    for (const o of active) expect(yaml).toMatch(new RegExp(`^#   line ${o.line}: ${o.name}[:=]`, 'm'));
    expect(yaml).not.toContain('unknown coturn option');
  });

  it('knows every option the annotated turnserver.conf documents', () => {
    const documented = [...readFileSync(DEBIAN, 'utf8').matchAll(/^#([A-Za-z][A-Za-z0-9_-]*)(?:=.*| ".*")?$/gm)].map((m) => m[1]);
    expect(documented.length).toBeGreaterThan(80);
    expect([...new Set(documented)].filter((name) => COTURN_OPTIONS[name] === undefined)).toEqual([]);
    // With every documented option switched on at once, each is either imported or listed with a reason.
    const uncommented = readFileSync(DEBIAN, 'utf8').replace(/^#([A-Za-z][A-Za-z0-9_-]*(?:=.*| ".*")?)$/gm, '$1');
    const options = parseTurnserverConf(uncommented);
    const result = importCoturn(options);
    expect(result.notImported.filter((n) => n.reason === 'unknown coturn option')).toEqual([]);
    expect(renderImport(result, 'x')).toContain('# Not imported');
  });

  it('stops with ATN_ERR_CONFIG_INVALID naming the key when a value does not fit anyturn', async () => {
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, 'min-port=5000\nmax-port=4000\n');
    const err = await run(process.execPath, [BIN, 'import-coturn', bad]).catch((e: { code: number; stderr: string }) => e);
    expect(err).toMatchObject({ code: 1 });
    expect((err as { stderr: string }).stderr).toContain('ATN_ERR_CONFIG_INVALID: the imported configuration: max-port: must be >= min-port');
  });
});

describe('docs/coturn.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/coturn.md'), 'utf8');
  it('has one row per coturn option with its anyturn key or reason, and the flag aliases', () => {
    const rows = new Map([...doc.matchAll(/^\| `([A-Za-z0-9][A-Za-z0-9_-]*)` \| (.+?) \|(?: (.*?) \|)?$/gm)].map((m) => [m[1], m[2]]));
    for (const [name, option] of Object.entries(COTURN_OPTIONS)) {
      expect(rows.get(name), name).toBe(option.kind === 'mapped' ? `\`${option.key}\`` : option.reason);
    }
    expect(rows.size).toBe(Object.keys(COTURN_OPTIONS).length);
    for (const [coturn, anyturn] of Object.entries(COTURN_FLAG_ALIASES)) expect(doc).toContain(`| \`--${coturn}\` | \`--${anyturn}\` |`);
  });
});

describe('coturn flag names on anyturn relay', () => {
  it('are aliases of the anyturn flags', () => {
    const key = createHash('md5').update('u:r:p').digest('hex');
    const config = loadRelayConfig([
      '--listening-port', '3490', '--listening-ip=127.0.0.2', '--static-auth-secret', 's1', '--total-quota', '9',
      '--denied-peer-ip', '10.0.0.0-10.0.0.3', '--allowed-peer-ip=10.1.0.1', '--max-allocate-lifetime', '60',
      '--stale-nonce', '30', '--realm', 'r', '--user', `u:0x${key}`,
    ]);
    expect(config).toMatchObject({
      port: 3490, listen: ['127.0.0.2'], authSecret: ['s1'], capacity: 9, denyPeer: ['10.0.0.0/30'],
      allowPeer: ['10.1.0.1/32'], lifetimeMax: 60, nonceTtl: 30,
    });
    expect(config.user).toEqual([{ name: 'u', key: Buffer.from(key, 'hex') }]);
  });
});
