import { describe, expect, it } from 'vitest';
import { SourceRateLimiter } from '../../../../relay/anycast/rate-limit.js';
import { FakeTime } from './fake-time.js';

const opts = { perSourceRate: 10, perSourceBurst: 20, globalRate: 1000, globalBurst: 1000, maxSources: 100 };

describe('SourceRateLimiter', () => {
  it('gives each source its burst, then its rate', () => {
    const time = new FakeTime();
    const rl = new SourceRateLimiter(opts, time);
    let ok = 0;
    for (let i = 0; i < 100; i++) if (rl.take('198.51.100.1') === 'ok') ok++;
    expect(ok).toBe(20);
    expect(rl.take('198.51.100.1')).toBe('source');
    time.advance(1000);
    ok = 0;
    for (let i = 0; i < 100; i++) if (rl.take('198.51.100.1') === 'ok') ok++;
    expect(ok).toBe(10);
    // another source is not affected
    expect(rl.take('198.51.100.2')).toBe('ok');
  });

  it('over 10 s a hammering source gets burst + 10/s answers', () => {
    const time = new FakeTime();
    const rl = new SourceRateLimiter(opts, time);
    let ok = 0;
    for (let ms = 0; ms < 10_000; ms += 1) {
      if (rl.take('203.0.113.9') === 'ok') ok++;
      time.advance(1);
    }
    expect(ok).toBeGreaterThanOrEqual(20 + 99);
    expect(ok).toBeLessThanOrEqual(20 + 100);
  });

  it('caps the total with the global bucket whatever the number of sources', () => {
    const time = new FakeTime();
    const rl = new SourceRateLimiter({ ...opts, globalRate: 50, globalBurst: 50, maxSources: 10_000 }, time);
    let ok = 0;
    let global = 0;
    for (let i = 0; i < 5000; i++) {
      const v = rl.take(`10.0.${i >> 8}.${i & 255}`);
      if (v === 'ok') ok++;
      if (v === 'global') global++;
    }
    expect(ok).toBe(50);
    expect(global).toBe(4950);
    time.advance(1000);
    ok = 0;
    for (let i = 0; i < 5000; i++) if (rl.take(`10.1.${i >> 8}.${i & 255}`) === 'ok') ok++;
    expect(ok).toBe(50);
  });

  it('keeps the source table bounded under a many-source (spoofed) flood', () => {
    const time = new FakeTime();
    const rl = new SourceRateLimiter({ ...opts, maxSources: 1000, globalRate: 0 }, time);
    for (let i = 0; i < 200_000; i++) rl.take(`${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}.7`);
    expect(rl.trackedSources).toBe(1000);
    expect(rl.evictions).toBe(199_000);
  });

  it('evicts the least recently seen source first', () => {
    const time = new FakeTime();
    const rl = new SourceRateLimiter({ ...opts, maxSources: 2, globalRate: 0 }, time);
    for (let i = 0; i < 20; i++) rl.take('a');
    expect(rl.take('a')).toBe('source');
    rl.take('b');
    rl.take('a'); // a is now the most recent
    rl.take('c'); // evicts b
    expect(rl.trackedSources).toBe(2);
    expect(rl.take('a')).toBe('source'); // a kept its empty bucket
  });

  it('sweep forgets sources idle long enough to have refilled', () => {
    const time = new FakeTime();
    const rl = new SourceRateLimiter(opts, time);
    rl.take('a');
    rl.take('b');
    time.advance(1500);
    rl.take('c');
    time.advance(1000); // a, b idle 2.5 s (>= 20/10 s), c idle 1 s
    expect(rl.sweep()).toBe(2);
    expect(rl.trackedSources).toBe(1);
  });

  it('rate 0 disables a bucket', () => {
    const time = new FakeTime();
    const rl = new SourceRateLimiter({ ...opts, perSourceRate: 0, globalRate: 0 }, time);
    for (let i = 0; i < 1000; i++) expect(rl.take('x')).toBe('ok');
    expect(rl.trackedSources).toBe(0);
  });
});
