import { describe, expect, it } from 'vitest';
import { summarize } from '../../../../src/cluster/summary.js';
import type { AnnouncementRecord, RelayRecord } from '../../../../src/cluster/types.js';

const rec = (id: string, pop: string, over: Partial<RelayRecord> = {}): RelayRecord => ({
  id, pop, addresses: [], capacity: 100, allocations: 10, load: 0.1, bandwidthBps: 1, state: 'active', updatedAt: 0, ttlMs: 1, ...over,
});

describe('summarize', () => {
  it('is empty without relays', () => {
    expect(summarize([], [])).toEqual([]);
  });

  it('aggregates per PoP, sorted by name; draining out of the load, full counted as 1', () => {
    const [a, b] = summarize(
      [rec('b1', 'b', { load: 0.3 }), rec('a1', 'a', { load: 0.2 }), rec('a2', 'a', { state: 'full', load: 0.9 }), rec('a3', 'a', { state: 'draining', load: 0 })],
      [],
    );
    expect(a).toMatchObject({ pop: 'a', relays: 3, activeRelays: 1, fullRelays: 1, drainingRelays: 1, allocations: 30, capacity: 300, bandwidthBps: 3 });
    expect(a.load).toBeCloseTo(0.6, 9);
    expect(b).toMatchObject({ pop: 'b', relays: 1, load: 0.3 });
  });

  it('all draining: load 0; loads are clamped', () => {
    expect(summarize([rec('x', 'p', { state: 'draining' })], [])[0].load).toBe(0);
    expect(summarize([rec('x', 'p', { load: 5 })], [])[0].load).toBe(1);
  });

  it('a PoP with an agent but no relay still shows up, announcements sorted by agent', () => {
    const ann = (agent: string): AnnouncementRecord => ({
      pop: 'lonely', agent, action: 'withdraw', prepend: 0, reason: 'no relays', prefixes: [], load: 0, updatedAt: 0, ttlMs: 1,
    });
    const [s] = summarize([], [ann('z'), ann('a')]);
    expect(s).toMatchObject({ pop: 'lonely', relays: 0, load: 0 });
    expect(s.announcements.map((x) => x.agent)).toEqual(['a', 'z']);
  });
});
