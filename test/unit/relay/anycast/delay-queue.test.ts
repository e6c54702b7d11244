import { describe, expect, it } from 'vitest';
import { DelayQueue } from '../../../../relay/anycast/delay-queue.js';
import { FakeTime } from './fake-time.js';

function setup(capacity = 100) {
  const time = new FakeTime();
  const delivered: { item: string; at: number }[] = [];
  const q = new DelayQueue<string>({ capacity }, { clock: time, timers: time, deliver: (item) => delivered.push({ item, at: time.now() }) });
  return { time, q, delivered, t0: time.now() };
}

describe('DelayQueue', () => {
  it('delivers each item after its delay, in due order', () => {
    const { time, q, delivered, t0 } = setup();
    q.push('c', 30);
    q.push('a', 10);
    q.push('b', 20);
    q.push('a2', 10);
    expect(q.size).toBe(4);
    time.advance(9);
    expect(delivered).toEqual([]);
    time.advance(1);
    expect(delivered.map((d) => d.item)).toEqual(['a', 'a2']);
    time.advance(100);
    expect(delivered.map((d) => [d.item, d.at - t0])).toEqual([
      ['a', 10],
      ['a2', 10],
      ['b', 20],
      ['c', 30],
    ]);
    expect(q.size).toBe(0);
    expect(time.armed).toBe(0);
  });

  it('keeps one timer armed however many answers are pending', () => {
    const { time, q, delivered } = setup(10_000);
    for (let i = 0; i < 5000; i++) q.push(`x${i}`, 50 + (i % 7));
    expect(time.armed).toBe(1);
    expect(time.scheduled).toBeLessThanOrEqual(2);
    time.advance(100);
    expect(delivered).toHaveLength(5000);
    expect(time.scheduled).toBeLessThanOrEqual(10);
  });

  it('re-arms for an earlier item', () => {
    const { time, q, delivered, t0 } = setup();
    q.push('late', 50);
    q.push('early', 5);
    expect(time.armed).toBe(1);
    time.advance(5);
    expect(delivered.map((d) => [d.item, d.at - t0])).toEqual([['early', 5]]);
  });

  it('is bounded: push refuses when full', () => {
    const { time, q, delivered } = setup(3);
    expect([q.push('1', 10), q.push('2', 10), q.push('3', 10), q.push('4', 10)]).toEqual([true, true, true, false]);
    time.advance(10);
    expect(delivered).toHaveLength(3);
    expect(q.push('5', 1)).toBe(true);
  });

  it('close drops everything and disarms', () => {
    const { time, q, delivered } = setup();
    q.push('1', 10);
    q.close();
    q.close();
    expect(q.size).toBe(0);
    expect(time.armed).toBe(0);
    time.advance(100);
    expect(delivered).toEqual([]);
    expect(q.push('2', 1)).toBe(false);
  });

  it('a throwing deliver does not stop the queue', () => {
    const time = new FakeTime();
    const seen: string[] = [];
    const q = new DelayQueue<string>(
      { capacity: 10 },
      {
        clock: time,
        timers: time,
        deliver: (item) => {
          seen.push(item);
          if (item === 'bad') throw new Error('boom');
        },
      },
    );
    q.push('bad', 1);
    q.push('good', 1);
    q.push('later', 5);
    time.advance(10);
    expect(seen).toEqual(['bad', 'good', 'later']);
  });

  it('works with the real timers', async () => {
    const delivered: number[] = [];
    const start = Date.now();
    const q = new DelayQueue<number>({ capacity: 10 }, { clock: { now: () => Date.now() }, deliver: (n) => delivered.push(n) });
    const done = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (delivered.length === 2) {
          clearInterval(check);
          resolve();
        }
      }, 2);
    });
    q.push(2, 30);
    q.push(1, 15);
    await done;
    expect(delivered).toEqual([1, 2]);
    expect(Date.now() - start).toBeGreaterThanOrEqual(29);
    q.close();
  });
});
