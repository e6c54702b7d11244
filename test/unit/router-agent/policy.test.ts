import { describe, expect, it } from 'vitest';
import { decide, policyRelays, sameRouting, type PolicyRelay, type PolicyThresholds } from '../../../router-agent/policy.js';

const T: PolicyThresholds = {
  steps: [
    { load: 0.6, prepend: 1 },
    { load: 0.8, prepend: 3 },
  ],
  hysteresis: 0.05,
};
const r = (load: number, over: Partial<PolicyRelay> = {}): PolicyRelay => ({ healthy: true, state: 'active', load, ...over });

describe('decide: announce or withdraw', () => {
  it('withdraws with no relays', () => {
    const d = decide([], T);
    expect(d).toMatchObject({ action: 'withdraw', prepend: 0, eligibleRelays: 0, healthyRelays: 0, totalRelays: 0 });
    expect(d.reason).toBe('no relays');
  });

  it('withdraws when every relay is unhealthy', () => {
    const d = decide([r(0.1, { healthy: false }), r(0.2, { healthy: false })], T);
    expect(d).toMatchObject({ action: 'withdraw', prepend: 0, healthyRelays: 0, totalRelays: 2 });
    expect(d.reason).toContain('no healthy relay');
  });

  it('withdraws when every healthy relay is draining', () => {
    const d = decide([r(0.1, { state: 'draining' }), r(0.2, { state: 'draining' }), r(0, { healthy: false })], T);
    expect(d).toMatchObject({ action: 'withdraw', healthyRelays: 2, eligibleRelays: 0 });
    expect(d.reason).toContain('full or draining');
  });

  it('withdraws when every healthy relay is full', () => {
    const d = decide([r(1, { state: 'full' }), r(0.99, { state: 'full' })], T);
    expect(d).toMatchObject({ action: 'withdraw', prepend: 0, load: 1 });
  });

  it('withdraws with a mix of full and draining', () => {
    expect(decide([r(1, { state: 'full' }), r(0.3, { state: 'draining' })], T).action).toBe('withdraw');
  });

  it('announces while one healthy active relay remains, whatever the others do', () => {
    const d = decide([r(0.1), r(1, { state: 'full' }), r(0.2, { state: 'draining' }), r(0.1, { healthy: false })], T);
    expect(d.action).toBe('announce');
    expect(d.eligibleRelays).toBe(1);
    expect(d.healthyRelays).toBe(3);
    expect(d.totalRelays).toBe(4);
    // aggregate: (0.1 + 1) / 2, draining and unhealthy left out; 0.55 < 0.6
    expect(d.load).toBeCloseTo(0.55, 9);
    expect(d.prepend).toBe(0);
  });

  it('an unhealthy active relay does not count as eligible', () => {
    expect(decide([r(0.1, { healthy: false, state: 'active' })], T).action).toBe('withdraw');
  });

  it('recovers: withdraw -> announce as soon as a relay is eligible again', () => {
    const down = decide([r(0.1, { healthy: false })], T);
    expect(down.action).toBe('withdraw');
    const up = decide([r(0.1)], T, down);
    expect(up).toMatchObject({ action: 'announce', prepend: 0 });
  });

  it('recovery after withdraw ignores the hysteresis of the old step', () => {
    const full = decide([r(1, { state: 'full' })], T, { action: 'announce', prepend: 3 });
    expect(full.action).toBe('withdraw');
    expect(decide([r(0.77)], T, full)).toMatchObject({ action: 'announce', prepend: 1 });
  });
});

describe('decide: prepend steps', () => {
  it('no prepend below the first step', () => {
    expect(decide([r(0.59999)], T).prepend).toBe(0);
  });

  it('enters a step exactly at its threshold', () => {
    expect(decide([r(0.6)], T).prepend).toBe(1);
    expect(decide([r(0.8)], T).prepend).toBe(3);
    expect(decide([r(0.7999)], T).prepend).toBe(1);
  });

  it('jumps several steps at once', () => {
    expect(decide([r(0.95)], T).prepend).toBe(3);
    expect(decide([r(0.95)], T, { action: 'announce', prepend: 0 }).prepend).toBe(3);
  });

  it('uses the aggregate (weighted mean) of the healthy relays', () => {
    expect(decide([r(0.4), r(0.8)], T).prepend).toBe(1); // mean 0.6
    expect(decide([r(0.4, { weight: 3 }), r(1.0, { weight: 1 })], T).prepend).toBe(0); // 0.55
    expect(decide([r(0.2, { weight: 1 }), r(1.0, { weight: 3 })], T).prepend).toBe(3); // 0.8
  });

  it('treats non-finite and out-of-range loads conservatively', () => {
    expect(decide([r(Number.NaN)], T).prepend).toBe(3);
    expect(decide([r(7)], T).load).toBe(1);
    expect(decide([r(-1)], T).load).toBe(0);
  });

  it('accepts steps in any order', () => {
    const shuffled = { steps: [T.steps[1], T.steps[0]], hysteresis: 0.05 };
    expect(decide([r(0.65)], shuffled).prepend).toBe(1);
    expect(decide([r(0.85)], shuffled).prepend).toBe(3);
  });

  it('no steps: never prepends', () => {
    expect(decide([r(1)], { steps: [], hysteresis: 0.1 })).toMatchObject({ action: 'announce', prepend: 0 });
  });
});

describe('decide: hysteresis', () => {
  const at = (load: number, prev?: { action: 'announce' | 'withdraw'; prepend: number }) => decide([r(load)], T, prev);

  it('going up: enters at the threshold, not before', () => {
    expect(at(0.59, { action: 'announce', prepend: 0 }).prepend).toBe(0);
    expect(at(0.6, { action: 'announce', prepend: 0 }).prepend).toBe(1);
  });

  it('going down: stays in the step until below threshold - margin', () => {
    const prev = { action: 'announce' as const, prepend: 1 };
    expect(at(0.58, prev).prepend).toBe(1);
    expect(at(0.55, prev).prepend).toBe(1); // exactly threshold - margin: still held
    expect(at(0.5499, prev).prepend).toBe(0);
    const held = at(0.57, prev);
    expect(held.reason).toContain('hysteresis');
  });

  it('going down from the top step: held, then down one step, then off', () => {
    const top = { action: 'announce' as const, prepend: 3 };
    expect(at(0.76, top).prepend).toBe(3);
    expect(at(0.75, top).prepend).toBe(3);
    expect(at(0.74, top).prepend).toBe(1);
    expect(at(0.56, top).prepend).toBe(1); // falls two steps: the lower step keeps its own margin
    expect(at(0.54, top).prepend).toBe(0);
  });

  it('a load oscillating around a threshold does not flap', () => {
    let prev = at(0.61);
    expect(prev.prepend).toBe(1);
    const seen = new Set<number>();
    for (const load of [0.59, 0.61, 0.57, 0.62, 0.56, 0.6, 0.58]) {
      prev = at(load, prev);
      seen.add(prev.prepend);
    }
    expect([...seen]).toEqual([1]);
    // and the same from below: never reaching 0.6 stays at 0
    let low = at(0.5);
    for (const load of [0.59, 0.55, 0.599, 0.58]) {
      low = at(load, low);
      expect(low.prepend).toBe(0);
    }
  });

  it('zero or negative margin: plain thresholds both ways', () => {
    const noMargin = { ...T, hysteresis: 0 };
    expect(decide([r(0.5999)], noMargin, { action: 'announce', prepend: 1 }).prepend).toBe(0);
    expect(decide([r(0.5999)], { ...T, hysteresis: -1 }, { action: 'announce', prepend: 1 }).prepend).toBe(0);
  });

  it('a previous prepend from old thresholds maps to the nearest step below it', () => {
    expect(at(0.58, { action: 'announce', prepend: 2 }).prepend).toBe(1);
  });
});

describe('sameRouting', () => {
  it('compares action and prepend, ignoring the reason', () => {
    expect(sameRouting({ action: 'announce', prepend: 1 }, { action: 'announce', prepend: 1 })).toBe(true);
    expect(sameRouting({ action: 'announce', prepend: 1 }, { action: 'announce', prepend: 3 })).toBe(false);
    expect(sameRouting({ action: 'withdraw', prepend: 0 }, { action: 'withdraw', prepend: 5 })).toBe(true);
    expect(sameRouting({ action: 'withdraw', prepend: 0 }, { action: 'announce', prepend: 0 })).toBe(false);
  });
});

describe('policyRelays', () => {
  it('joins probe health with registry state, load and capacity', () => {
    const registry = new Map([
      ['r1', { state: 'full' as const, load: 1, capacity: 500 }],
      ['r2', { state: 'active' as const, load: 0.3, capacity: 0 }],
    ]);
    expect(
      policyRelays(
        [
          { id: 'r1', healthy: true },
          { id: 'r2', healthy: false },
          { id: 'r3', healthy: true },
        ],
        (id) => registry.get(id),
      ),
    ).toEqual([
      { id: 'r1', healthy: true, state: 'full', load: 1, weight: 500 },
      { id: 'r2', healthy: false, state: 'active', load: 0.3 },
      { id: 'r3', healthy: true, state: 'active', load: 0 },
    ]);
  });
});
