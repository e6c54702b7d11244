/**
 * The relayed-address index as the relay keeps it (relay/cluster-sync.ts): an Allocate claims its relayed
 * transport address for the allocation's lifetime (plus a grace), a Refresh that extends the lifetime extends the
 * claim, and Refresh 0 (deletion) releases it. Read back from redis-server itself (PTTL of the key keys.ts builds).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterKeys } from '../../../src/cluster/keys.js';
import type { TurnClient } from '../../support/turn-client.js';
import { client, PASSWORD, startRedis, startRelay, stopAll, USER, waitFor, type RedisServer, type TestRelay } from './helpers.js';

let redis: RedisServer;
let relay: TestRelay;
let raw: Redis;
const clients: TurnClient[] = [];
const keys = new ClusterKeys();

beforeAll(async () => {
  redis = await startRedis();
  relay = await startRelay('claims-a', ['--redis', redis.url, '--user', `${USER}:${PASSWORD}`]);
  raw = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
  await raw.connect();
}, 30_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  raw?.disconnect();
  await stopAll([relay]);
  await redis?.cleanup();
});

describe('relayed-address claims', () => {
  it('Allocate claims for the lifetime, Refresh extends the claim, Refresh 0 releases it', async () => {
    const c = await client(relay, USER, PASSWORD);
    clients.push(c);
    const { relayed, lifetime } = await c.allocate();
    expect(lifetime).toBe(600); // the default
    const key = keys.relayedAddress(relayed[0]);

    const first = await waitFor('the claim', async () => ((await raw.get(key)) === 'claims-a' ? raw.pttl(key) : undefined), 5000, 20);
    expect(first).toBeGreaterThan(595_000);
    expect(first).toBeLessThanOrEqual(606_000); // lifetime + 5 s grace

    expect(await c.refresh(3600)).toBe(3600); // --lifetime-max default
    const extended = await waitFor('the extended claim', async () => {
      const pttl = await raw.pttl(key);
      return pttl > 3_590_000 ? pttl : undefined;
    }, 5000, 50);
    expect(extended).toBeLessThanOrEqual(3_606_000);

    expect(await c.refresh(0)).toBe(0);
    await waitFor('the claim released', async () => (await raw.exists(key)) === 0, 5000, 20);
  });

  it('a clean stop releases every claim and removes the registry record', async () => {
    const c = await client(relay, USER, PASSWORD);
    clients.push(c);
    const { relayed } = await c.allocate();
    const key = keys.relayedAddress(relayed[0]);
    await waitFor('the claim', async () => (await raw.get(key)) === 'claims-a', 5000, 20);
    // The relay stops cleanly: its allocation ends and its claim goes with it, and so does its registry record.
    await relay.process.stop();
    expect(await raw.exists(key)).toBe(0);
    expect(await raw.exists(keys.relay('claims-a'))).toBe(0);
  });
});
