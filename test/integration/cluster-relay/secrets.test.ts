/**
 * Proof: rotating the REST secret cluster-wide without a restart. Three relays run with `--redis` and no secret
 * of their own; `anyturn secret add S1` makes credentials from S1 (`anyturn creds --secret S1`) work on every
 * relay; `secret add S2` keeps S1 working beside S2; `secret retire S1` makes S1 credentials get 401 on every
 * relay while S2 ones keep working. A relay's own `--auth-secret` is never retired by the store.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyturn, creds, startRedis, startRelay, stopAll, tryAllocate, waitFor, type RedisServer, type TestRelay } from './helpers.js';

let redis: RedisServer;
const relays: TestRelay[] = [];
const S1 = `s1-${randomBytes(12).toString('hex')}`;
const S2 = `s2-${randomBytes(12).toString('hex')}`;
const LOCAL = `local-${randomBytes(12).toString('hex')}`;

beforeAll(async () => {
  redis = await startRedis();
  relays.push(...(await Promise.all([
    startRelay('sec-a', ['--redis', redis.url]),
    startRelay('sec-b', ['--redis', redis.url]),
    startRelay('sec-c', ['--redis', redis.url, '--auth-secret', LOCAL], { pop: 'pop2' }),
  ])));
}, 40_000);

afterAll(async () => {
  await stopAll(relays);
  await redis?.cleanup();
});

/** The result of one Allocate with credentials from `secret`, on every relay. */
async function everyRelay(secret: string): Promise<(number | 'ok')[]> {
  const { username, credential } = await creds(secret);
  return Promise.all(relays.map((r) => tryAllocate(r, username, credential)));
}

/** Polls until every relay gives `expected` for credentials from `secret`. */
function until(secret: string, expected: 'ok' | 401): Promise<unknown> {
  return waitFor(`${secret.slice(0, 2)} -> ${expected} on every relay`, async () => {
    const results = await everyRelay(secret);
    return results.every((r) => r === expected) ? results : undefined;
  }, 8000, 50);
}

const secret = (...args: string[]) => anyturn(['secret', ...args, '--redis', redis.url]);

describe('cluster-wide REST secret rotation', () => {
  it('refuses REST credentials before any secret is added (no generated test user either)', async () => {
    expect(await everyRelay(S1)).toEqual([401, 401, 401]);
    const list = await secret('list');
    expect(list).toMatchObject({ code: 0, stdout: '' });
  });

  it('secret add S1: S1 credentials work on every relay', async () => {
    const r = await secret('add', S1);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{12} added \(1 secrets\)/);
    const t0 = Date.now();
    await until(S1, 'ok');
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await everyRelay(S2)).toEqual([401, 401, 401]);
  });

  it('secret add S2: both S1 and S2 work', async () => {
    expect((await secret('add', S2)).code).toBe(0);
    await until(S2, 'ok');
    expect(await everyRelay(S1)).toEqual(['ok', 'ok', 'ok']);
    const list = await secret('list', '--reveal');
    expect(list.stdout.trim().split('\n')).toEqual([S2, S1]); // newest first
  });

  it('secret retire S1: S1 credentials get 401 on every relay, S2 ones still work', async () => {
    const r = await secret('retire', S1);
    expect(r).toMatchObject({ code: 0 });
    expect(r.stdout).toContain('retired (1 secrets left)');
    await until(S1, 401);
    expect(await everyRelay(S2)).toEqual(['ok', 'ok', 'ok']);
    // The relay's own --auth-secret is not the store's to retire.
    const { username, credential } = await creds(LOCAL);
    expect(await tryAllocate(relays[2], username, credential)).toBe('ok');
    expect(await tryAllocate(relays[0], username, credential)).toBe(401);
  });

  it('the CLI refuses what it cannot do: retire of an unknown secret, add of an invalid one, no --redis', async () => {
    expect(await secret('retire', S1)).toMatchObject({ code: 1, stderr: expect.stringContaining('no such secret') });
    expect(await secret('add', 'has space')).toMatchObject({ code: 1, stderr: expect.stringContaining('ATN_ERR_CLI_USAGE') });
    expect(await anyturn(['secret', 'list'])).toMatchObject({ code: 1, stderr: expect.stringContaining('--redis URL is required') });
    expect(await anyturn(['secret', 'rotate', 'x', '--redis', redis.url])).toMatchObject({ code: 1, stderr: expect.stringContaining("unknown action 'rotate'") });
    // retire by fingerprint (as `list` prints it), then S2 is gone too.
    const fingerprint = (await secret('list')).stdout.trim();
    expect(fingerprint).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect((await secret('retire', fingerprint)).code).toBe(0);
    await until(S2, 401);
  });

  it('reports an unreachable store with ATN_ERR_CLUSTER_UNAVAILABLE', async () => {
    const r = await anyturn(['secret', 'add', S1, '--redis', 'redis://127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ATN_ERR_CLUSTER_UNAVAILABLE');
  });
});
