import { describe, expect, it } from 'vitest';
import { EventLoopLag, LoadMonitor, type LagSource } from '../../../../relay/anycast/load-monitor.js';
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
    const m = new LoadMonitor(
      { capacity: 1000, linkCapacity: 1_000_000, sampleIntervalMs: 100, lagFullMs: 100, lagCap: 0.9 },
      { sources: { allocations: () => allocations, relayedBytes: () => bytes }, clock: time, timers: time, lag },
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
    expect(m.components()).toEqual({ allocations: 0.25, bandwidth: 0, lag: 0.3 });
    allocations = 1000;
    expect(m.score()).toBe(1);
    m.close();
    expect(lag.closed).toBe(true);
    expect(time.armed).toBe(0);
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
