/**
 * The URL forms beyond redis:// against real servers: Sentinel (a master plus one
 * sentinel) and Redis Cluster (a single-node cluster owning every slot). The store's
 * keys share one hash slot, so multi-key commands and pub/sub work in both.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisClusterStore } from '../../../src/cluster/redis-store.js';
import { silentLogger } from '../../../src/log.js';
import { relay } from './contract.js';
import { freePort, RedisServer, waitFor } from './helpers.js';

const servers: RedisServer[] = [];
const stores: RedisClusterStore[] = [];

afterAll(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await Promise.all(servers.map((s) => s.cleanup()));
});

async function exercise(url: string): Promise<void> {
  const open = () => {
    const s = new RedisClusterStore({ url, log: silentLogger(), refreshIntervalMs: 100, reconnectMaxDelayMs: 100 });
    stores.push(s);
    return s;
  };
  const a = open();
  const b = open();
  await Promise.all([a.start(), b.start()]);
  // start() may resolve degraded while a fresh cluster settles; the store keeps retrying.
  await waitFor('both stores up', () => a.connectionState() === 'up' && b.connectionState() === 'up', 10_000);
  const heard = b.wait('secrets');
  expect(await a.heartbeat(relay('t1', 'pop-a'), 10_000)).toBe('written');
  expect(await a.addSecret('topology')).toBe('written');
  expect((await heard)[0]).toEqual(['topology']);
  await waitFor('b to see t1', async () => (await b.refresh(), b.relays().map((r) => r.id).join() === 't1'));
  const [ka, kb] = await Promise.all([a.nonceKey(), b.nonceKey()]);
  expect(ka.equals(kb)).toBe(true);
  const addr = { family: 4 as const, address: '10.9.9.1', port: 49200 };
  await a.claimRelayedAddress(addr, 't1', 10_000);
  expect(await b.ownerOfRelayedAddress(addr)).toBe('t1');
}

describe('Redis topologies', () => {
  it('redis+sentinel://sentinel/master', async () => {
    const master = new RedisServer(await freePort());
    servers.push(master);
    await master.start();
    const sentinelPort = await freePort();
    const sentinel = new RedisServer(sentinelPort, ['--sentinel'], `sentinel monitor atnmaster 127.0.0.1 ${master.port} 1\n`);
    servers.push(sentinel);
    await sentinel.start();
    await exercise(`redis+sentinel://127.0.0.1:${sentinelPort}/atnmaster`);
  });

  it('redis+cluster://node', async () => {
    // nodes.conf lands in the server's --dir (its temp dir).
    const cluster = new RedisServer(await freePort(), ['--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1']);
    servers.push(cluster);
    await cluster.start();
    const admin = new Redis({ host: '127.0.0.1', port: cluster.port, lazyConnect: true });
    try {
      await admin.connect();
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      await waitFor('cluster_state:ok', async () => String(await admin.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), 15_000, 100);
    } finally {
      admin.disconnect();
    }
    await exercise(`redis+cluster://127.0.0.1:${cluster.port}`);
  });
});
