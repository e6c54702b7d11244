import { describe, expect, it } from 'vitest';
import { DedupWindow } from '../../../../src/overlay/dedup-window.js';
import { PathStats } from '../../../../src/overlay/path-stats.js';

describe('DedupWindow', () => {
  it('keeps the first copy and drops later ones', () => {
    const w = new DedupWindow(64);
    expect(w.check(0)).toBe('new');
    expect(w.check(0)).toBe('duplicate');
    expect(w.check(1)).toBe('new');
    expect(w.check(1)).toBe('duplicate');
    expect(w.highest).toBe(1);
  });

  it('tolerates reordering inside the window', () => {
    const w = new DedupWindow(64);
    for (const id of [5, 3, 4, 0, 2, 1, 63, 10]) expect(w.check(id)).toBe('new');
    for (const id of [5, 3, 4, 0, 2, 1, 63, 10]) expect(w.check(id)).toBe('duplicate');
    expect(w.check(62)).toBe('new');
  });

  it('drops ids below the window as too old, and forgets bits as the window slides', () => {
    const w = new DedupWindow(32);
    expect(w.check(100)).toBe('new');
    expect(w.check(68)).toBe('too-old');
    expect(w.check(69)).toBe('new');
    expect(w.check(69)).toBe('duplicate');
    expect(w.check(101)).toBe('new'); // slot of 69 is reused by 101: cleared first, so 101 is new
    expect(w.check(69)).toBe('too-old');
    expect(w.check(1000)).toBe('new'); // a jump past the window clears everything
    expect(w.check(999)).toBe('new');
    expect(w.check(968)).toBe('too-old');
  });

  it('matches a reference set on a long random sequence with duplicates and reordering', () => {
    const w = new DedupWindow(128);
    const seen = new Set<number>();
    let highest = -1;
    let seed = 42;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 20000; i++) {
      const id = Math.max(0, Math.floor(i / 2 + (rand() - 0.5) * 160));
      const expected = highest - id >= 128 ? 'too-old' : seen.has(id) ? 'duplicate' : 'new';
      expect(w.check(id)).toBe(expected);
      if (expected === 'new') seen.add(id);
      highest = Math.max(highest, id);
    }
  });

  it('refuses a window size that is not a multiple of 32', () => {
    expect(() => new DedupWindow(100)).toThrow(RangeError);
  });
});

describe('PathStats', () => {
  it('counts loss from id gaps and late arrivals as received', () => {
    const s = new PathStats();
    const flow = { highest: -1 };
    for (const id of [0, 1, 2, 5, 6, 4, 9]) s.arrived(flow, id);
    expect(s.expected).toBe(10);
    expect(s.received).toBe(7);
    expect(s.lossRatio).toBeCloseTo(0.3);
  });

  it('computes RTT from the echo across a u32 wrap, smooths it, ignores absurd samples', () => {
    const s = new PathStats();
    s.echo(100, 0xffffff00, 50); // now wrapped: 0x100 + 100 - 50 = 306 µs
    expect(s.lastRttUs).toBe(306);
    expect(s.srttUs).toBe(306);
    s.echo(1000 + 306 + 800, 1000, 0);
    expect(s.srttUs).toBeCloseTo(306 + (1106 - 306) / 8);
    s.echo(1000, 2000, 0); // negative: wraps to ~4295 s, ignored
    expect(s.lastRttUs).toBe(1106);
  });
});
