import { describe, expect, it } from 'vitest';
import type { RelayRecord } from '../../../../src/cluster/types.js';
import { DuplicationPolicy } from '../../../../relay/overlay/duplication-policy.js';
import { OverlayPeers } from '../../../../relay/overlay/peers.js';
import { RouteCache } from '../../../../relay/overlay/route-cache.js';

function record(id: string, overlay: string[], relayed?: { addresses: string[]; minPort: number; maxPort: number }): RelayRecord {
  return {
    id, pop: 'p', addresses: [], capacity: 1, allocations: 0, load: 0, bandwidthBps: 0, state: 'active', updatedAt: 0, ttlMs: 1000,
    overlay: { addresses: overlay.map((a) => ({ family: 4 as const, address: a.split(':')[0], port: Number(a.split(':')[1]) })), paths: [], ...(relayed ? { relayed } : {}) },
  };
}

describe('DuplicationPolicy', () => {
  it('is off by default, matches names, REST names by their user part, and * for everyone', () => {
    expect(new DuplicationPolicy([]).duplicates('alice')).toBe(false);
    const p = new DuplicationPolicy(['premium']);
    expect(p.duplicates('premium')).toBe(true);
    expect(p.duplicates('1767225600:premium')).toBe(true);
    expect(p.duplicates('premium:1767225600')).toBe(false);
    expect(p.duplicates('other')).toBe(false);
    expect(new DuplicationPolicy(['*']).duplicates('anyone')).toBe(true);
  });
});

describe('OverlayPeers', () => {
  it('knows registered sources per path, relayed ranges, and keeps path state while the addresses stay', () => {
    const peers = new OverlayPeers('self', 2);
    peers.update([
      record('self', ['10.77.1.1:4000']),
      record('b', ['10.77.1.2:4000', '10.77.2.2:4000', '10.77.3.2:4000'], { addresses: ['10.9.10.11'], minPort: 49152, maxPort: 65535 }),
    ]);
    expect(peers.source('10.77.1.1', 4000)).toBeUndefined(); // itself
    expect(peers.source('10.77.2.2', 4000)?.path.index).toBe(1);
    expect(peers.source('10.77.3.2', 4000)).toBeUndefined(); // beyond this relay's two paths
    expect(peers.source('10.77.2.2', 4001)).toBeUndefined();
    expect(peers.relayedBy('10.9.10.11', 50000)).toBe('b');
    expect(peers.relayedBy('10.9.10.11', 3478)).toBeUndefined();
    const path = peers.get('b')!.paths[0];
    path.lastHeardAt = 123;
    peers.update([record('b', ['10.77.1.2:4000', '10.77.2.2:4000'], { addresses: ['10.9.10.11'], minPort: 49152, maxPort: 65535 })]);
    expect(peers.get('b')!.paths[0].lastHeardAt).toBe(123);
    peers.update([record('b', ['10.77.1.9:4000', '10.77.2.2:4000'])]);
    expect(peers.get('b')!.paths[0].lastHeardAt).toBe(-Infinity); // moved: fresh state
    peers.update([]);
    expect(peers.get('b')).toBeUndefined();
  });

  it('starts probe ids from the clock so a restarted relay is not judged too old', () => {
    const peers = new OverlayPeers('self', 1);
    peers.update([record('b', ['10.77.1.2:4000'])]);
    expect(peers.get('b')!.nextProbeId).toBeGreaterThan(1e15);
  });
});

describe('RouteCache', () => {
  it('answers from the store\'s cache first, then the registry, and caches both answers for the TTL', () => {
    let storeCalls = 0;
    let registryCalls = 0;
    const cache = new RouteCache(
      { cachedOwnerOfRelayedAddress: (a) => { storeCalls++; return a.port === 1 ? 'own' : undefined; } },
      (_address, port) => { registryCalls++; return port === 2 ? 'b' : undefined; },
      { ttlMs: 100 },
    );
    expect(cache.owner(4, '10.0.0.1', 1, 0)).toBe('own');
    expect(cache.owner(4, '10.0.0.1', 2, 0)).toBe('b');
    expect(cache.owner(4, '10.0.0.1', 3, 0)).toBeUndefined();
    for (let i = 0; i < 10; i++) cache.owner(4, '10.0.0.1', 3, 50);
    expect([storeCalls, registryCalls]).toEqual([3, 2]);
    cache.owner(4, '10.0.0.1', 3, 100); // expired: asked again
    expect(storeCalls).toBe(4);
    expect(cache.size).toBe(3);
  });
});
