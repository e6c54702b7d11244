import { describe, expect, it } from 'vitest';
import { DrainState } from '../../../../relay/anycast/drain.js';

describe('DrainState', () => {
  it('drains and undrains idempotently, emitting only on change', () => {
    const d = new DrainState();
    const seen: boolean[] = [];
    d.on('changed', (v) => seen.push(v));
    expect(d.isDraining).toBe(false);
    d.drain();
    d.drain();
    expect(d.isDraining).toBe(true);
    d.undrain();
    d.undrain();
    expect(d.isDraining).toBe(false);
    expect(seen).toEqual([true, false]);
    expect(new DrainState(true).isDraining).toBe(true);
  });
});
