/**
 * The pending delayed answers of the anycast race: a bounded min-heap ordered by due time with ONE timer armed
 * for the earliest entry (not one setTimeout per answer). When the timer fires every entry that is due is
 * delivered in due order, then the timer is re-armed for the next one.
 *
 * Bounded: `push` refuses (returns false) when `capacity` entries are pending, so a flood can never grow it.
 * Time comes from the injected clock, timers from the injected `Timers` (global setTimeout by default), so tests
 * run it on a fake clock.
 */
import type { Clock } from '../../src/clock.js';

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Runs `fn` after the pending I/O of this event-loop turn (setImmediate). */
  defer(fn: () => void): void;
}

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  defer: (fn) => {
    setImmediate(fn);
  },
};

interface Entry<T> {
  due: number;
  seq: number;
  item: T;
}

/** Entries due within this many ms of now are delivered together (timers have 1 ms granularity). */
const SLACK_MS = 1;

export class DelayQueue<T> {
  readonly #capacity: number;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #deliver: (item: T) => void;
  readonly #heap: Entry<T>[] = [];
  #seq = 0;
  #timer: unknown;
  #armedFor = Infinity;
  #closed = false;

  constructor(
    options: { capacity: number },
    deps: { clock: Clock; deliver: (item: T) => void; timers?: Timers },
  ) {
    this.#capacity = Math.max(1, Math.floor(options.capacity));
    this.#clock = deps.clock;
    this.#deliver = deps.deliver;
    this.#timers = deps.timers ?? systemTimers;
  }

  get size(): number {
    return this.#heap.length;
  }

  get capacity(): number {
    return this.#capacity;
  }

  /** Schedules `item` for delivery in `delayMs`; false when full or closed (the item is dropped). */
  push(item: T, delayMs: number): boolean {
    if (this.#closed || this.#heap.length >= this.#capacity) return false;
    const due = this.#clock.now() + (delayMs > 0 ? delayMs : 0);
    const heap = this.#heap;
    heap.push({ due, seq: this.#seq++, item });
    siftUp(heap, heap.length - 1);
    if (due < this.#armedFor) this.#arm();
    return true;
  }

  /** Drops everything pending and stops the timer; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#heap.length = 0;
    this.#disarm();
  }

  #arm(): void {
    this.#disarm();
    const first = this.#heap[0];
    if (first === undefined) return;
    this.#armedFor = first.due;
    const wait = Math.max(0, Math.ceil(first.due - this.#clock.now()));
    this.#timer = this.#timers.setTimeout(() => this.#fire(), wait);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const heap = this.#heap;
    const limit = this.#clock.now() + SLACK_MS;
    while (!this.#closed && heap.length > 0 && heap[0].due <= limit) {
      const entry = popMin(heap);
      try {
        this.#deliver(entry.item);
      } catch {
        // deliver never throws by contract; a bug in it must not stop the queue
      }
    }
    if (!this.#closed && heap.length > 0) this.#arm();
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

function siftUp<T>(heap: Entry<T>[], i: number): void {
  const e = heap[i];
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(e, heap[parent])) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = e;
}

function popMin<T>(heap: Entry<T>[]): Entry<T> {
  const top = heap[0];
  const last = heap.pop() as Entry<T>;
  if (heap.length > 0) {
    let i = 0;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(heap[r], heap[l]) ? r : l;
      if (!before(heap[c], last)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = last;
  }
  return top;
}
