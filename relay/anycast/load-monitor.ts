/**
 * Samples what load-score.ts needs: the live allocation count (read fresh on every score() call, so "full" is
 * exact at the moment an Allocate arrives), the relayed byte rate and the event-loop lag (both averaged over the
 * last sampling window, `sampleIntervalMs`, default 250 ms), and the process's memory (read at each sample).
 *
 * Event-loop lag comes from perf_hooks.monitorEventLoopDelay: the histogram records how late its own timer fires
 * (resolution included), so the lag of a window is max(0, mean - resolution).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Clock } from '../../src/clock.js';
import { systemTimers, type Timers } from './delay-queue.js';
import {
  DEFAULT_LOAD_SCORE_OPTIONS,
  loadComponents,
  memoryComponent,
  ratio,
  scoreOf,
  type LoadComponents,
  type LoadScoreOptions,
} from './load-score.js';

/** What the responder needs: the current score in [0, 1]. */
export interface LoadProvider {
  score(): number;
}

/** Where the relay's numbers come from (TurnServer / RelayMetrics in the daemon). */
export interface LoadSources {
  /** Live allocations. */
  allocations(): number;
  /** Monotonic counters of relayed bytes (clients + peers): received and sent. */
  relayedBytes(): { received: number; sent: number };
  /** The process's memory now (default: processMemory). */
  memory?(): ProcessMemory;
}

export interface ProcessMemory {
  heapUsedBytes: number;
  heapLimitBytes: number;
  rssBytes: number;
}

/** This process: V8 heap used and its limit, resident set size. */
export function processMemory(): ProcessMemory {
  const heap = getHeapStatistics();
  return { heapUsedBytes: heap.used_heap_size, heapLimitBytes: heap.heap_size_limit, rssBytes: process.memoryUsage.rss() };
}

/** Event-loop lag of the window since the previous call, ms. */
export interface LagSource {
  takeLagMs(): number;
  close(): void;
}

export interface LoadMonitorOptions extends Partial<LoadScoreOptions> {
  /** `--capacity`. */
  capacity: number;
  /** `--link-capacity`, bytes/s. */
  linkCapacity: number;
  /** `--memory-budget`, bytes of RSS; 0 or absent = only the V8 heap limit counts. */
  memoryBudget?: number;
  sampleIntervalMs?: number;
}

export class LoadMonitor implements LoadProvider {
  readonly #capacity: number;
  readonly #linkCapacity: number;
  readonly #memoryBudget: number;
  readonly #memory: () => ProcessMemory;
  readonly #scoreOptions: LoadScoreOptions;
  readonly #intervalMs: number;
  readonly #sources: LoadSources;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #lag: LagSource;
  #lastMs: number;
  #lastReceived: number;
  #lastSent: number;
  #bandwidth = 0;
  #lagComponent = 0;
  #memoryComponent = 0;
  /** The lowest V8 heap use seen: what the process needs with no state (garbage only ever adds to a sample). */
  #heapBaseline = Number.POSITIVE_INFINITY;
  #timer: unknown;
  #closed = false;

  constructor(
    options: LoadMonitorOptions,
    deps: { sources: LoadSources; clock: Clock; timers?: Timers; lag?: LagSource },
  ) {
    this.#capacity = options.capacity;
    this.#linkCapacity = options.linkCapacity;
    this.#memoryBudget = options.memoryBudget ?? 0;
    this.#memory = deps.sources.memory ?? processMemory;
    this.#scoreOptions = {
      lagFullMs: options.lagFullMs ?? DEFAULT_LOAD_SCORE_OPTIONS.lagFullMs,
      lagCap: options.lagCap ?? DEFAULT_LOAD_SCORE_OPTIONS.lagCap,
      lagFloorMs: options.lagFloorMs ?? DEFAULT_LOAD_SCORE_OPTIONS.lagFloorMs,
    };
    this.#intervalMs = Math.max(10, options.sampleIntervalMs ?? 250);
    this.#sources = deps.sources;
    this.#clock = deps.clock;
    this.#timers = deps.timers ?? systemTimers;
    this.#lag = deps.lag ?? new EventLoopLag();
    this.#lastMs = this.#clock.now();
    const bytes = this.#sources.relayedBytes();
    this.#lastReceived = bytes.received;
    this.#lastSent = bytes.sent;
    this.#sampleMemory();
  }

  /** Starts periodic sampling (idempotent). */
  start(): this {
    if (this.#closed || this.#timer !== undefined) return this;
    const tick = (): void => {
      this.sample();
      if (!this.#closed) this.#timer = this.#timers.setTimeout(tick, this.#intervalMs);
    };
    this.#timer = this.#timers.setTimeout(tick, this.#intervalMs);
    return this;
  }

  /** Takes one sample of the windowed components (bandwidth, lag); start() calls it periodically. */
  sample(): void {
    const now = this.#clock.now();
    const bytes = this.#sources.relayedBytes();
    const elapsed = now - this.#lastMs;
    if (elapsed > 0) {
      const received = Math.max(0, bytes.received - this.#lastReceived);
      const sent = Math.max(0, bytes.sent - this.#lastSent);
      const perSecond = (Math.max(received, sent) * 1000) / elapsed;
      const lagMs = this.#lag.takeLagMs();
      const c = loadComponents(
        {
          allocations: 0,
          capacity: 0,
          relayedBytesPerSecond: perSecond,
          linkCapacity: this.#linkCapacity,
          eventLoopLagMs: lagMs,
        },
        this.#scoreOptions,
      );
      this.#bandwidth = c.bandwidth;
      this.#lagComponent = c.lag;
    }
    this.#sampleMemory();
    this.#lastMs = now;
    this.#lastReceived = bytes.received;
    this.#lastSent = bytes.sent;
  }

  /**
   * The heap counts from the lowest use seen (state grown since an empty relay) against the room left up to the
   * limit, so an idle relay scores ~0 whatever the machine's heap limit; RSS counts whole against the budget.
   */
  #sampleMemory(): void {
    const m = this.#memory();
    this.#heapBaseline = Math.min(this.#heapBaseline, m.heapUsedBytes);
    this.#memoryComponent = memoryComponent({
      heapUsedBytes: m.heapUsedBytes - this.#heapBaseline,
      heapLimitBytes: m.heapLimitBytes - this.#heapBaseline,
      rssBytes: m.rssBytes,
      budgetBytes: this.#memoryBudget,
    });
  }

  components(): LoadComponents {
    return {
      allocations: ratio(this.#sources.allocations(), this.#capacity),
      bandwidth: this.#bandwidth,
      lag: this.#lagComponent,
      memory: this.#memoryComponent,
    };
  }

  /** The current score: allocations read now, bandwidth, lag and memory from the last sample. Cheap. */
  score(): number {
    return scoreOf(this.components());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lag.close();
  }
}

/** monitorEventLoopDelay over windows: mean delay of the window minus the timer resolution. */
export class EventLoopLag implements LagSource {
  readonly #resolutionMs: number;
  readonly #histogram: IntervalHistogram;

  constructor(resolutionMs = 10) {
    this.#resolutionMs = resolutionMs;
    this.#histogram = monitorEventLoopDelay({ resolution: resolutionMs });
    this.#histogram.enable();
  }

  takeLagMs(): number {
    const h = this.#histogram;
    const mean = h.count > 0 ? h.mean / 1e6 : 0;
    h.reset();
    return Math.max(0, mean - this.#resolutionMs);
  }

  close(): void {
    this.#histogram.disable();
  }
}
