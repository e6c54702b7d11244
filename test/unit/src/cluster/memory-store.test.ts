import { describe, expect, it } from 'vitest';
import { MemoryClusterBackend, MemoryClusterStore } from '../../../../src/cluster/memory-store.js';
import { openClusterStore } from '../../../../src/cluster/store.js';
import { silentLogger } from '../../../../src/log.js';

const hb = (id: string) => ({
  id, pop: 'p', addresses: [], capacity: 10, allocations: 0, load: 0, bandwidthBps: 0, state: 'active' as const,
});

describe('MemoryClusterStore with an injected clock', () => {
  it('expires relays, announcements and address claims exactly at their TTL', async () => {
    let now = 1_000;
    const clock = { now: () => now };
    const s = new MemoryClusterStore({ clock });
    await s.heartbeat(hb('r1'), 3_000);
    await s.publishAnnouncement({ pop: 'p', agent: 'a', action: 'announce', prepend: 0, reason: '', prefixes: [], load: 0 }, 3_000);
    await s.claimRelayedAddress({ family: 4, address: '10.0.0.1', port: 5 }, 'r1', 3_000);
    expect(s.relay('r1')?.updatedAt).toBe(1_000);
    now = 3_999;
    expect(s.relays()).toHaveLength(1);
    await s.heartbeat(hb('r1'), 3_000); // a beat pushes the expiry out
    now = 4_000;
    expect(s.relays()).toHaveLength(1);
    expect(s.announcements()).toHaveLength(0);
    expect(s.cachedOwnerOfRelayedAddress({ family: 4, address: '10.0.0.1', port: 5 })).toBeUndefined();
    now = 6_998;
    expect(s.relay('r1')).toBeDefined();
    now = 6_999; // 3_999 + 3_000
    expect(s.relay('r1')).toBeUndefined();
    expect(s.relays()).toEqual([]);
    expect(s.backend.relays.size).toBe(0); // purged, not only hidden
  });

  it('keeps secrets newest first even within one millisecond', async () => {
    const s = new MemoryClusterStore({ clock: { now: () => 5 } });
    await s.addSecret('a');
    await s.addSecret('b');
    await s.addSecret('c');
    expect(s.secrets()).toEqual(['c', 'b', 'a']);
  });

  it('a closed handle no longer gets cluster events', async () => {
    const backend = new MemoryClusterBackend();
    const a = new MemoryClusterStore({ backend });
    const b = new MemoryClusterStore({ backend });
    const seen: string[][] = [];
    b.on('secrets', (x) => seen.push(x));
    await a.addSecret('one');
    await b.close();
    await b.close(); // idempotent
    await a.addSecret('two');
    expect(seen).toEqual([['one']]);
  });

  it('openClusterStore picks memory without a URL, Redis with one (not started)', async () => {
    const mem = await openClusterStore({ log: silentLogger() });
    expect(mem.kind).toBe('memory');
    const redis = await openClusterStore({ log: silentLogger(), redisUrl: 'redis://127.0.0.1:1' });
    expect(redis.kind).toBe('redis');
    expect(redis.connectionState()).toBe('down');
    await redis.close();
    await expect(openClusterStore({ log: silentLogger(), redisUrl: 'ftp://x' })).rejects.toMatchObject({ code: 'ATN_ERR_CONFIG_INVALID' });
  });
});
