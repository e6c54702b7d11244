import { describe, expect, it } from 'vitest';
import {
  StaticRelayDirectory,
  alternateKey,
  fallbackRelay,
  flowKey,
  hash53,
  rendezvousWeight,
  singleResponder,
  unitInterval,
  type RelayInfo,
} from '../../../../relay/anycast/single-responder.js';

const flows = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => flowKey('udp', `198.51.${(i >> 8) & 255}.${i & 255}`, 40000 + (i % 1000), '203.0.113.1', 3478));

describe('single responder (weighted rendezvous hashing)', () => {
  it('hash53 is deterministic and spreads', () => {
    expect(hash53('abc')).toBe(hash53('abc'));
    expect(hash53('abc')).not.toBe(hash53('abd'));
    expect(hash53('')).toBeGreaterThanOrEqual(0);
    // pinned value: every relay (any machine, any Node) must compute the same
    expect(hash53('udp|198.51.100.7|40000|203.0.113.1|3478#r1')).toBe(996907035286717);
    expect(hash53('a')).toBe(7929297801672961); // cyrb53's published value
    for (const h of [0, 2 ** 53 - 1]) {
      const u = unitInterval(h);
      expect(u).toBeGreaterThan(0);
      expect(u).toBeLessThan(1);
    }
  });

  it('every relay computes the same responder, whatever the order of its directory', () => {
    const a: RelayInfo[] = [
      { id: 'r1', load: 0.2 },
      { id: 'r2', load: 0.4 },
      { id: 'r3', load: 0.1 },
    ];
    const b = [a[2], a[0], a[1]];
    for (const f of flows(500)) expect(singleResponder(a, f)).toBe(singleResponder(b, f));
  });

  it('spreads flows in proportion to 1 - load', () => {
    const relays: RelayInfo[] = [
      { id: 'r1', load: 0 },
      { id: 'r2', load: 0.5 },
      { id: 'r3', load: 0.75 },
    ];
    const counts = new Map<string, number>();
    const n = 20_000;
    for (const f of flows(n)) {
      const r = singleResponder(relays, f)!;
      counts.set(r, (counts.get(r) ?? 0) + 1);
    }
    // weights 1 : 0.5 : 0.25 -> 4/7, 2/7, 1/7
    expect(counts.get('r1')! / n).toBeCloseTo(4 / 7, 1);
    expect(counts.get('r2')! / n).toBeCloseTo(2 / 7, 1);
    expect(counts.get('r3')! / n).toBeCloseTo(1 / 7, 1);
  });

  it('leaves out full and draining relays; undefined when none is left', () => {
    const relays: RelayInfo[] = [
      { id: 'r1', load: 1 },
      { id: 'r2', load: 0.3, draining: true },
      { id: 'r3', load: 0.9 },
    ];
    for (const f of flows(100)) expect(singleResponder(relays, f)).toBe('r3');
    expect(singleResponder([{ id: 'r1', load: 1 }], 'x')).toBeUndefined();
    expect(singleResponder([], 'x')).toBeUndefined();
  });

  it('a relay leaving moves only its own flows', () => {
    const all: RelayInfo[] = ['r1', 'r2', 'r3', 'r4'].map((id) => ({ id, load: 0.2 }));
    const without = all.filter((r) => r.id !== 'r2');
    for (const f of flows(2000)) {
      const before = singleResponder(all, f);
      if (before !== 'r2') expect(singleResponder(without, f)).toBe(before);
    }
  });

  it('small load differences (one quantisation step) do not move flows', () => {
    expect(rendezvousWeight({ id: 'x', load: 0.301 })).toBe(rendezvousWeight({ id: 'x', load: 0.349 }));
    const a: RelayInfo[] = [
      { id: 'r1', load: 0.301 },
      { id: 'r2', load: 0.11 },
    ];
    const b: RelayInfo[] = [
      { id: 'r1', load: 0.349 },
      { id: 'r2', load: 0.14 },
    ];
    for (const f of flows(500)) expect(singleResponder(a, f)).toBe(singleResponder(b, f));
  });

  it('fallbackRelay picks the least-loaded other live relay that has the address', () => {
    const addr = (a: string) => ({ family: 4 as const, address: a, port: 3478 });
    const relays: RelayInfo[] = [
      { id: 'self', load: 0, alternates: { tcp4: addr('10.0.0.1') } },
      { id: 'r2', load: 0.5, alternates: { tcp4: addr('10.0.0.2') } },
      { id: 'r3', load: 0.2, alternates: { udp4: addr('10.0.0.3') } },
      { id: 'r4', load: 0.3, alternates: { tcp4: addr('10.0.0.4') } },
      { id: 'r5', load: 0.1, draining: true, alternates: { tcp4: addr('10.0.0.5') } },
    ];
    expect(fallbackRelay(relays, 'self', alternateKey('tcp', 4))).toEqual({ id: 'r4', address: addr('10.0.0.4') });
    expect(fallbackRelay(relays, 'self', 'tls6')).toBeUndefined();
  });

  it('StaticRelayDirectory upserts', () => {
    const d = new StaticRelayDirectory([{ id: 'a', load: 0 }]);
    d.upsert({ id: 'a', load: 0.5 });
    d.upsert({ id: 'b', load: 0.1 });
    expect(d.relays()).toEqual([
      { id: 'a', load: 0.5 },
      { id: 'b', load: 0.1 },
    ]);
    d.set([]);
    expect(d.relays()).toEqual([]);
  });
});
