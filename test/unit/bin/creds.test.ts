import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { run } from '../../../bin/commands/creds.js';
import { AnyturnError } from '../../../src/errors.js';

async function creds(argv: string[], nowMs = 1_700_000_000_000): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await run(argv, { stdout: { write: (t: string) => (out += t) }, nowMs: () => nowMs });
  return { code, out };
}

describe('anyturn creds', () => {
  it('prints {username, credential, ttl} with the default ttl of one day', async () => {
    const { code, out } = await creds(['--secret', 'north-secret', '--user', 'alice']);
    expect(code).toBe(0);
    expect(out.endsWith('\n')).toBe(true);
    const parsed = JSON.parse(out);
    expect(Object.keys(parsed)).toEqual(['username', 'credential', 'ttl']);
    // same vector as rest-credentials.test.ts (python hmac)
    expect(parsed).toEqual({ username: '1700086400:alice', credential: 'Nni2GlD6PVaoCP0Cx2DhLKDWjyY=', ttl: 86400 });
  });

  it('takes --ttl and --secret=, works without --user', async () => {
    const { out } = await creds(['--secret=s3', '--ttl', '60']);
    const parsed = JSON.parse(out);
    expect(parsed.username).toBe('1700000060');
    expect(parsed.ttl).toBe(60);
    expect(parsed.credential).toBe(createHmac('sha1', 's3').update('1700000060').digest('base64'));
  });

  it('adds uris only when given', async () => {
    const { out } = await creds(['--secret', 's', '--uri', 'turn:192.0.2.1:3478', '--uri', 'turns:192.0.2.1:5349']);
    expect(JSON.parse(out).uris).toEqual(['turn:192.0.2.1:3478', 'turns:192.0.2.1:5349']);
  });

  it('prints usage on --help', async () => {
    const { code, out } = await creds(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('--secret');
  });

  it.each([
    [[], '--secret is required'],
    [['--secret', 's', '--ttl', '0'], '--ttl'],
    [['--secret', 's', '--ttl', '1.5'], '--ttl'],
    [['--secret', 's', '--ttl', 'day'], '--ttl'],
    [['--secret', 's', '--bogus'], 'unknown flag --bogus'],
    [['--secret'], '--secret needs a value'],
  ])('refuses %j', async (argv, message) => {
    const err = await creds(argv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnyturnError);
    expect((err as AnyturnError).code).toBe('ATN_ERR_CLI_USAGE');
    expect((err as AnyturnError).message).toContain(message);
  });

  it('runs as `anyturn creds` from dist', () => {
    const bin = new URL('../../../dist/bin/anyturn.js', import.meta.url).pathname;
    expect(existsSync(bin), 'dist is built by pretest (npx tsc -p tsconfig.json)').toBe(true);
    const before = Math.floor(Date.now() / 1000);
    const out = execFileSync(process.execPath, [bin, 'creds', '--secret', 'k', '--user', 'u', '--ttl', '120'], { encoding: 'utf8' });
    const parsed = JSON.parse(out);
    const expiry = Number(parsed.username.split(':')[0]);
    expect(expiry).toBeGreaterThanOrEqual(before + 120);
    expect(expiry).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 120);
    expect(parsed.username.endsWith(':u')).toBe(true);
    expect(parsed.credential).toBe(createHmac('sha1', 'k').update(parsed.username).digest('base64'));
  });
});
