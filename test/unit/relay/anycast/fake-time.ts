/** A fake clock and timers for the anycast unit tests: time moves only when `advance` is called. */
import type { Clock } from '../../../../src/clock.js';
import type { Timers } from '../../../../relay/anycast/delay-queue.js';

interface FakeTimer {
  id: number;
  due: number;
  fn: () => void;
}

export class FakeTime implements Clock, Timers {
  #now: number;
  #next = 1;
  #timers: FakeTimer[] = [];
  /** setTimeout calls so far (to check "one timer, not one per answer"). */
  scheduled = 0;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    this.scheduled++;
    const t = { id: this.#next++, due: this.#now + Math.max(0, ms), fn };
    this.#timers.push(t);
    return t.id;
  }

  /** Deferred work runs at once: there is no I/O to let through first. */
  defer(fn: () => void): void {
    fn();
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  /** Timers currently armed. */
  get armed(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order (timers they arm fire too when due). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      this.#timers.sort((a, b) => a.due - b.due || a.id - b.id);
      const t = this.#timers[0];
      if (t === undefined || t.due > end) break;
      this.#timers.shift();
      this.#now = Math.max(this.#now, t.due);
      t.fn();
    }
    this.#now = end;
  }
}
