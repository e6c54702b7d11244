import { describe, expect, it } from 'vitest';
import { loadComponents, loadScore, ratio, type LoadInputs } from '../../../../relay/anycast/load-score.js';

const idle: LoadInputs = { allocations: 0, capacity: 1000, relayedBytesPerSecond: 0, linkCapacity: 1e6, eventLoopLagMs: 0 };

describe('load score', () => {
  it('is 0 when idle and allocations/capacity otherwise', () => {
    expect(loadScore(idle)).toBe(0);
    expect(loadScore({ ...idle, allocations: 100 })).toBeCloseTo(0.1);
    expect(loadScore({ ...idle, allocations: 300 })).toBeCloseTo(0.3);
  });

  it('is the maximum of the components', () => {
    const inputs = { ...idle, allocations: 200, relayedBytesPerSecond: 500_000, eventLoopLagMs: 30 };
    expect(loadComponents(inputs)).toEqual({ allocations: 0.2, bandwidth: 0.5, lag: 0.1, memory: 0 });
    expect(loadScore(inputs)).toBeCloseTo(0.5);
  });

  it('reaches 1 (full) at capacity or at link capacity, never above', () => {
    expect(loadScore({ ...idle, allocations: 1000 })).toBe(1);
    expect(loadScore({ ...idle, allocations: 5000 })).toBe(1);
    expect(loadScore({ ...idle, relayedBytesPerSecond: 2e6 })).toBe(1);
  });

  it('caps the lag component below 1 so lag alone never silences a relay', () => {
    expect(loadScore({ ...idle, eventLoopLagMs: 10_000 })).toBeCloseTo(0.9);
    expect(loadScore({ ...idle, eventLoopLagMs: 50 }, { lagFullMs: 50, lagCap: 1 })).toBe(1);
    expect(loadScore({ ...idle, eventLoopLagMs: 25 }, { lagFullMs: 50, lagCap: 1 })).toBeCloseTo(0.5);
  });

  it('ignores event-loop lag up to the floor (scheduler jitter, default 20 ms)', () => {
    expect(loadScore({ ...idle, eventLoopLagMs: 20 })).toBe(0);
    expect(loadScore({ ...idle, eventLoopLagMs: 25 })).toBeCloseTo(0.05);
    expect(loadScore({ ...idle, eventLoopLagMs: 25 }, { lagFullMs: 100, lagCap: 0.9, lagFloorMs: 0 })).toBeCloseTo(0.25);
  });

  it('counts memory as the fuller of the V8 heap (vs its limit) and RSS (vs --memory-budget, 0 = none)', () => {
    const memory = { heapUsedBytes: 600e6, heapLimitBytes: 2000e6, rssBytes: 900e6, budgetBytes: 0 };
    expect(loadComponents({ ...idle, memory }).memory).toBeCloseTo(0.3);
    expect(loadComponents({ ...idle, memory: { ...memory, budgetBytes: 1000e6 } }).memory).toBeCloseTo(0.9);
    expect(loadScore({ ...idle, allocations: 100, memory: { ...memory, budgetBytes: 1000e6 } })).toBeCloseTo(0.9);
    expect(loadScore({ ...idle, memory: { ...memory, heapUsedBytes: 2100e6 } })).toBe(1); // not capped: a full heap is a crash
    expect(loadComponents({ ...idle, memory: { ...memory, heapLimitBytes: 0 } }).memory).toBe(0);
  });

  it('treats a zero limit as unlimited and bad inputs as 0', () => {
    expect(loadScore({ ...idle, capacity: 0, allocations: 10 ** 9 })).toBe(0);
    expect(loadScore({ ...idle, linkCapacity: 0, relayedBytesPerSecond: 10 ** 12 })).toBe(0);
    expect(ratio(Number.NaN, 10)).toBe(0);
    expect(ratio(-5, 10)).toBe(0);
    expect(ratio(5, Number.POSITIVE_INFINITY)).toBe(0);
    expect(loadScore({ ...idle, eventLoopLagMs: Number.NaN })).toBe(0);
  });
});
