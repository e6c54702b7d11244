import { describe, expect, it } from 'vitest';
import { EventLoopLag, LoadMonitor, processMemory, type LagSource } from '../../../../relay/anycast/load-monitor.js';
import { FakeTime } from './fake-time.js';

class FakeLag implements LagSource {
  next = 0;
  closed = false;
  takeLagMs(): number {
    return this.next;
  }
  close(): void {
    this.closed = true;
  }
}

describe('LoadMonitor', () => {
  it('reads allocations fresh and bandwidth/lag per sampling window', () => {
    const time = new FakeTime();
    const lag = new FakeLag();
    let allocations = 0;
    const bytes = { received: 0, sent: 0 };
    const memory = { heapUsedBytes: 50e6, heapLimitBytes: 1050e6, rssBytes: 0 }; // 50 MB: an empty relay's heap
    const m = new LoadMonitor(
      { capacity: 1000, linkCapacity: 1_000_000, memoryBudget: 500e6, sampleIntervalMs: 100, lagFullMs: 100, lagCap: 0.9 },
      { sources: { allocations: () => allocations, relayedBytes: () => bytes, memory: () => memory }, clock: time, timers: time, lag },
    ).start();
    expect(m.score()).toBe(0);
    allocations = 250;
    expect(m.score()).toBeCloseTo(0.25); // no sample needed
    bytes.received += 60_000; // 60 kB in 100 ms = 600 kB/s
    bytes.sent += 10_000;
    time.advance(100);
    expect(m.components().bandwidth).toBeCloseTo(0.6);
    expect(m.score()).toBeCloseTo(0.6);
    lag.next = 50; // 20 ms of it are below the default floor
    time.advance(100); // no traffic in this window
    expect(m.components()).toEqual({ allocations: 0.25, bandwidth: 0, lag: 0.3, memory: 0 });
    // A relay bloated by state: RSS against --memory-budget, the heap against V8's limit, read at each sample.
    memory.rssBytes = 350e6;
    memory.heapUsedBytes = 250e6;
    expect(m.components().memory).toBe(0);
    time.advance(100);
    expect(m.components().memory).toBeCloseTo(0.7);
    expect(m.score()).toBeCloseTo(0.7);
    memory.rssBytes = 0;
    time.advance(100);
    expect(m.components().memory).toBeCloseTo(0.2); // (250 - 50) / (1050 - 50): the heap grown since start
    memory.heapUsedBytes = 30e6; // a GC found less than the first sample: the baseline follows
    time.advance(100);
    expect(m.components().memory).toBe(0);
    memory.heapUsedBytes = 132e6;
    time.advance(100);
    expect(m.components().memory).toBeCloseTo(0.1);
    allocations = 1000;
    expect(m.score()).toBe(1);
    m.close();
    expect(lag.closed).toBe(true);
    expect(time.armed).toBe(0);
  });

  it('reads this process\'s memory by default', () => {
    const time = new FakeTime();
    const m = new LoadMonitor(
      { capacity: 1000, linkCapacity: 1_000_000 },
      { sources: { allocations: () => 0, relayedBytes: () => ({ received: 0, sent: 0 }) }, clock: time, timers: time, lag: new FakeLag() },
    );
    const own = processMemory();
    expect(own.heapLimitBytes).toBeGreaterThan(own.heapUsedBytes);
    expect(own.rssBytes).toBeGreaterThan(own.heapUsedBytes / 2);
    expect(m.components().memory).toBe(0); // the first sample is the baseline
    m.sample();
    expect(m.components().memory).toBeGreaterThanOrEqual(0);
    expect(m.components().memory).toBeLessThan(0.5);
    m.close();
  });

  it('EventLoopLag reports a busy loop', async () => {
    const lag = new EventLoopLag(10);
    await new Promise((r) => setTimeout(r, 50));
    lag.takeLagMs();
    await new Promise((r) => setTimeout(r, 20));
    const end = Date.now() + 120;
    while (Date.now() < end) {
      // block the loop
    }
    await new Promise((r) => setTimeout(r, 30));
    const busy = lag.takeLagMs();
    lag.close();
    expect(busy).toBeGreaterThan(5);
  });
});
