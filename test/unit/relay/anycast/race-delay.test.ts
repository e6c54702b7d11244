import { describe, expect, it } from 'vitest';
import { raceDecision, raceDelayMs } from '../../../../relay/anycast/race-delay.js';

describe('race delay', () => {
  it('linear: maxDelay * score', () => {
    expect(raceDelayMs(0, 100, 'linear')).toBe(0);
    expect(raceDelayMs(0.1, 100, 'linear')).toBeCloseTo(10);
    expect(raceDelayMs(0.3, 100, 'linear')).toBeCloseTo(30);
    expect(raceDelayMs(1, 100, 'linear')).toBe(100);
  });

  it('quadratic: maxDelay * score^2', () => {
    expect(raceDelayMs(0.1, 100, 'quadratic')).toBeCloseTo(1);
    expect(raceDelayMs(0.5, 100, 'quadratic')).toBeCloseTo(25);
    expect(raceDelayMs(0.9, 50, 'quadratic')).toBeCloseTo(40.5);
  });

  it('is monotonic in the score: a less-loaded relay never answers later', () => {
    for (const curve of ['linear', 'quadratic'] as const) {
      let previous = -1;
      for (let s = 0; s <= 1.0001; s += 0.01) {
        const d = raceDelayMs(s, 80, curve);
        expect(d).toBeGreaterThanOrEqual(previous);
        previous = d;
      }
    }
  });

  it('clamps the score and the max delay', () => {
    expect(raceDelayMs(-3, 100, 'linear')).toBe(0);
    expect(raceDelayMs(Number.NaN, 100, 'linear')).toBe(0);
    expect(raceDelayMs(7, 100, 'quadratic')).toBe(100);
    expect(raceDelayMs(0.5, -10, 'linear')).toBe(0);
  });

  it('is silent when full or draining, draining first', () => {
    expect(raceDecision(0.2, false, 100, 'linear')).toEqual({ kind: 'answer', delayMs: 20 });
    expect(raceDecision(1, false, 100, 'linear')).toEqual({ kind: 'silent', reason: 'full' });
    expect(raceDecision(0, true, 100, 'linear')).toEqual({ kind: 'silent', reason: 'draining' });
    expect(raceDecision(1, true, 100, 'linear')).toEqual({ kind: 'silent', reason: 'draining' });
  });
});
