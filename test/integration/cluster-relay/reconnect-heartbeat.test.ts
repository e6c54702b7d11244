/**
 * Proof: when the cluster store comes back (redis-server restarted empty), the record a relay publishes again is its
 * state NOW, not the last heartbeat written before the outage. The heartbeat period is set far beyond the test so
 * that only the reconnect can publish: allocations made while Redis was away are counted in the very first record
 * the registry holds after the restart.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestSecrets } from '../../../src/auth/credential-store.js';
import { NonceService } from '../../../src/auth/nonce.js';
import { systemClock } from '../../../src/clock.js';
import { RedisClusterStore } from '../../../src/cluster/redis-store.js';
import { TypedEmitter } from '../../../src/events.js';
import { silentLogger } from '../../../src/log.js';
import { ClusterSync } from '../../../relay/cluster-sync.js';
import type { TurnServerEvents } from '../../../relay/turn/turn-server.js';
import { startRedis, waitFor, type RedisServer } from './helpers.js';

/** The allocation count source ClusterSync reads (TurnServer.allocationCount), set by the test. */
class AllocationCount extends TypedEmitter<TurnServerEvents> {
  allocationCount = 0;
}

const PREFIX = `reconnect-${randomBytes(4).toString('hex')}`;
const HOUR = 3_600_000;
let redis: RedisServer;
const stores: RedisClusterStore[] = [];
let sync: ClusterSync | undefined;

const openStore = (): RedisClusterStore => {
  const s = new RedisClusterStore({ url: redis.url, keyPrefix: PREFIX, log: silentLogger(), reconnectMaxDelayMs: 100 });
  stores.push(s);
  return s;
};

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await sync?.close();
  await Promise.all(stores.map((s) => s.close()));
  await redis?.cleanup();
});

describe('a relay re-registers with its current state after a store restart', () => {
  it('counts the allocations made during the outage in the first record after the restart', async () => {
    const store = openStore();
    await store.start();
    const turn = new AllocationCount();
    sync = new ClusterSync(
      { id: 'r1', pop: 'pop1', capacity: 100, linkCapacity: 1e9, authSecrets: [], fleetNonceKey: false, heartbeatIntervalMs: HOUR, heartbeatTtlMs: HOUR },
      {
        store, turn, restSecrets: new RestSecrets([]), log: silentLogger(), clock: systemClock,
        nonces: new NonceService({ key: randomBytes(32), ttlMs: 60_000, clock: systemClock }),
        relayedBytes: () => ({ received: 0, sent: 0 }),
        addresses: () => [{ transport: 'udp', family: 4, address: '127.0.0.1', port: 3478 }],
        draining: () => false,
      },
    );
    await sync.start(); // the only periodic heartbeat in this test: allocations 0
    const before = openStore();
    await before.start();
    expect(before.relay('r1')?.allocations).toBe(0);

    await redis.kill();
    await waitFor('the relay sees the store down', () => store.connectionState() === 'down', 5000, 10);
    turn.allocationCount = 2; // two Allocates while Redis is away

    await redis.start(); // empty
    await waitFor('the relay sees the store up', () => store.connectionState() === 'up', 5000, 10);
    const reader = openStore();
    await reader.start();
    const first = await waitFor('r1 registered again', async () => {
      await reader.refresh();
      return reader.relay('r1');
    }, 5000, 10);
    expect(first.allocations).toBe(2);
  });
});
