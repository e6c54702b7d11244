/**
 * RedisClusterStore against a real redis-server (started here on a free loopback port,
 * no persistence): the shared contract, then Redis going away (crash, partition) and
 * coming back empty on the same port.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisClusterStore } from '../../../src/cluster/redis-store.js';
import { run as status } from '../../../bin/commands/status.js';
import { silentLogger } from '../../../src/log.js';
import { clusterStoreContract, relay } from './contract.js';
import { freePort, ping, RedisServer, waitFor } from './helpers.js';

let redis: RedisServer;
let run = 0;
const opened: RedisClusterStore[] = [];

function open(prefix: string, over: Partial<ConstructorParameters<typeof RedisClusterStore>[0]> = {}): RedisClusterStore {
  const s = new RedisClusterStore({
    url: redis.url,
    keyPrefix: prefix,
    log: silentLogger(),
    refreshIntervalMs: 100,
    commandTimeoutMs: 500,
    reconnectMaxDelayMs: 100,
    ...over,
  });
  opened.push(s);
  return s;
}

beforeAll(async () => {
  redis = new RedisServer(await freePort());
  await redis.start();
});

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await redis.cleanup();
});

clusterStoreContract('redis', async () => {
  const prefix = `contract${++run}`; // a fresh key space per test
  const a = open(prefix);
  const b = open(prefix);
  await Promise.all([a.start(), b.start()]);
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});

describe('anyturn status --redis', () => {
  it('prints the PoPs and relays a relay and an agent published', async () => {
    const relayStore = open('status');
    await relayStore.start();
    await relayStore.heartbeat(relay('s1', 'pop-a', { load: 0.7, allocations: 700 }), 60_000);
    await relayStore.publishAnnouncement(
      { pop: 'pop-a', agent: 'ra', action: 'announce', prepend: 1, reason: 'load 0.7 >= 0.6', prefixes: ['198.18.0.1/32'], load: 0.7 },
      60_000,
    );
    let out = '';
    const code = await status(['--redis', redis.url, '--prefix', 'status'], { stdout: { write: (t: string) => (out += t) }, stderr: { write: () => 0 } });
    expect(code).toBe(0);
    expect(out).toContain(`cluster store: ${redis.url} (up)`);
    expect(out).toMatch(/pop-a\s+announce \+1\s+1\s+1/);
    expect(out).toMatch(/s1\s+pop-a\s+active\s+0\.70\s+700/);
  });
});

describe('RedisClusterStore when Redis fails', () => {
  afterEach(async () => {
    redis.signal('SIGCONT');
    if (!(await ping(redis.port))) {
      await redis.kill();
      await redis.start();
    }
  });

  it('keeps serving the last known state while Redis is down, and is whole again after a restart', async () => {
    const a = open('outage');
    const b = open('outage');
    await Promise.all([a.start(), b.start()]);
    expect(a.connectionState()).toBe('up');
    await a.heartbeat(relay('a1', 'pop-a'), 60_000);
    await b.heartbeat(relay('b1', 'pop-b'), 60_000);
    await a.addSecret('before');
    const nonce = await a.nonceKey();
    expect((await b.nonceKey()).equals(nonce)).toBe(true);
    const addr = { family: 4 as const, address: '10.9.9.1', port: 50000 };
    await a.claimRelayedAddress(addr, 'a1', 60_000);
    expect(await b.ownerOfRelayedAddress(addr)).toBe('a1'); // b remembers what it looked up
    await a.publishAnnouncement({ pop: 'pop-a', agent: 'ra', action: 'announce', prepend: 0, reason: 'ok', prefixes: ['198.18.0.1/32'], load: 0.1 }, 60_000);
    await waitFor('b to see both relays', async () => (await b.refresh(), b.relays().length === 2));

    await redis.kill();
    await waitFor('both stores to notice', () => a.connectionState() === 'down' && b.connectionState() === 'down');

    // Every call returns promptly and never throws; reads come from the cache.
    const t0 = Date.now();
    expect(await a.heartbeat(relay('a1', 'pop-a', { allocations: 7 }), 60_000)).toBe('queued');
    await b.refresh();
    expect(b.relays().map((r) => r.id)).toEqual(['a1', 'b1']);
    expect(b.popSummaries().map((p) => p.pop)).toEqual(['pop-a', 'pop-b']);
    expect(b.secrets()).toEqual(['before']);
    expect((await b.nonceKey()).equals(nonce)).toBe(true);
    expect(await a.addSecret('during')).toBe('queued');
    expect(a.secrets()).toEqual(['during', 'before']);
    expect(await b.ownerOfRelayedAddress(addr)).toBe('a1'); // from b's look-up cache
    expect(await a.ownerOfRelayedAddress(addr)).toBe('a1');
    const addr2 = { ...addr, port: 50001 };
    expect(await a.claimRelayedAddress(addr2, 'a1', 60_000)).toBe('queued');
    expect(Date.now() - t0).toBeLessThan(2000);

    // A relay of a's whose heartbeats stopped during the outage must not come back.
    await a.heartbeat(relay('a2', 'pop-a'), 200);
    const a2Gone = (a.relay('a2')?.updatedAt ?? 0) + 200;
    await waitFor('a2 TTL to run out', () => Date.now() > a2Gone);

    // Redis comes back on the same port, empty (no persistence).
    await redis.start();
    await waitFor('both stores to reconnect', () => a.connectionState() === 'up' && b.connectionState() === 'up');

    // A fresh client sees everything again: both relays re-registered, the queued
    // heartbeat, the secrets (seeded again + the queued one), the same nonce key, the claims.
    const c = open('outage');
    await c.start();
    await waitFor('the registry to be whole again', async () => {
      await c.refresh();
      return c.relays().map((r) => r.id).join() === 'a1,b1';
    });
    expect(c.relay('a1')?.allocations).toBe(7);
    await waitFor('secrets to be back', async () => (await c.refresh(), c.secrets().join() === 'during,before'));
    expect((await c.nonceKey()).equals(nonce)).toBe(true);
    expect(await c.ownerOfRelayedAddress(addr)).toBe('a1');
    expect(await c.ownerOfRelayedAddress(addr2)).toBe('a1');
    expect(c.announcements().map((x) => x.agent)).toEqual(['ra']);
    await waitFor('b to hear the secret added during the outage', () => b.secrets().join() === 'during,before');
  });

  it('does not hang callers when Redis stops answering (partition)', async () => {
    const a = open('partition');
    await a.start();
    await a.heartbeat(relay('p1', 'pop-a'), 60_000);
    await a.addSecret('x');
    redis.signal('SIGSTOP');
    try {
      const t0 = Date.now();
      const results = await Promise.all([
        a.heartbeat(relay('p1', 'pop-a', { allocations: 9 }), 60_000),
        a.addSecret('y'),
        a.refresh(),
        a.ownerOfRelayedAddress({ family: 4, address: '10.0.0.1', port: 1 }),
      ]);
      expect(Date.now() - t0).toBeLessThan(2000);
      expect(results[0]).toBe('queued');
      expect(results[1]).toBe('queued');
      expect(a.relays().map((r) => r.id)).toEqual(['p1']);
      expect(a.secrets()).toEqual(['y', 'x']);
    } finally {
      redis.signal('SIGCONT');
    }
    // Once Redis answers again the queued writes land.
    const c = open('partition');
    await c.start();
    await waitFor('queued writes to land', async () => {
      await c.refresh();
      return c.secrets().join() === 'y,x' && c.relay('p1')?.allocations === 9;
    });
  });

  it('starts while Redis is down and catches up when it appears', async () => {
    const port = await freePort();
    const late = new RedisServer(port);
    try {
      const a = open('late', { url: late.url });
      await a.start();
      expect(a.connectionState()).toBe('down');
      expect(await a.heartbeat(relay('l1', 'pop-a'), 60_000)).toBe('queued');
      const provisional = await a.nonceKey();
      await late.start();
      await waitFor('a to connect', () => a.connectionState() === 'up');
      const c = open('late', { url: late.url });
      await c.start();
      await waitFor('l1 registered', async () => (await c.refresh(), c.relays().map((r) => r.id).join() === 'l1'));
      // The first key written wins fleet-wide; here the provisional one was first.
      expect((await c.nonceKey()).equals(provisional)).toBe(true);
    } finally {
      await late.cleanup();
    }
  });
});
