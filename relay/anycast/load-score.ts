/**
 * The relay's load score: one number in [0, 1] that drives the anycast race (race-delay.ts) and the
 * `anyturn_load_score` gauge. Pure: the sampling (allocation count, relayed bytes, event-loop lag) lives in
 * load-monitor.ts.
 *
 *   allocations = allocations / capacity                     (0 when capacity is 0 = unlimited)
 *   bandwidth   = relayed bytes per second / link capacity    (0 when the link capacity is 0 = unknown)
 *   lag         = min(lagCap, max(0, event-loop lag - lagFloorMs) / lagFullMs)
 *                                                            (lag alone never reaches 1 when lagCap < 1; lag below
 *                                                            the floor is scheduler jitter, not load: ignoring it
 *                                                            keeps the race ranking stable on a busy host)
 *   memory      = max(V8 heap used / V8 heap limit, RSS / memory budget)   (each 0 when its limit is 0 = unknown;
 *                 load-monitor.ts counts the heap from the lowest use seen, i.e. the state grown since start)
 *   score       = max(allocations, bandwidth, lag, memory), clamped to [0, 1]
 *
 * The maximum, not a weighted sum: a relay is as loaded as its most exhausted resource, and a score of 1
 * ("full": no answer on the anycast address) must mean that one resource is really exhausted. Event-loop lag is
 * capped below 1 by default because it is a symptom shared by the whole PoP during a flood: if lag alone could
 * silence a relay, a flood on G would silence every relay of the PoP at once. Memory is not capped: a heap at its
 * limit is a crash to come, and state (allocations, permissions, channels) is what a relay bloated by one user holds,
 * so such a relay stops winning races long before that.
 */

export interface LoadInputs {
  /** Live allocations on this relay. */
  allocations: number;
  /** `--capacity`: allocations this relay accepts; 0 = unlimited (the component is 0). */
  capacity: number;
  /**
   * Relayed traffic over the last sampling window, bytes per second: the larger of what the relay receives
   * (clients + peers) and what it sends, i.e. the busier direction of a full-duplex link.
   */
  relayedBytesPerSecond: number;
  /** `--link-capacity`, bytes per second; 0 = unknown (the component is 0). */
  linkCapacity: number;
  /** Event-loop lag over the last sampling window, ms (the excess over the timer resolution). */
  eventLoopLagMs: number;
  /** Process memory (process.memoryUsage / v8.getHeapStatistics); absent = the memory component is 0. */
  memory?: MemoryInputs;
}

export interface MemoryInputs {
  heapUsedBytes: number;
  /** V8's heap_size_limit: past it the process dies. */
  heapLimitBytes: number;
  rssBytes: number;
  /** `--memory-budget`, bytes of RSS; 0 = none (only the heap counts). */
  budgetBytes: number;
}

export interface LoadScoreOptions {
  /** Lag at which the lag component reaches `lagCap` (default 100 ms). */
  lagFullMs: number;
  /** Highest value the lag component may take (default 0.9: lag alone delays the answer, never silences it). */
  lagCap: number;
  /** Lag up to this many ms counts as none (default 20). */
  lagFloorMs?: number;
}

export const DEFAULT_LOAD_SCORE_OPTIONS: Readonly<Required<LoadScoreOptions>> = Object.freeze({ lagFullMs: 100, lagCap: 0.9, lagFloorMs: 20 });

export interface LoadComponents {
  allocations: number;
  bandwidth: number;
  lag: number;
  memory: number;
}

/** Names of the components, in a fixed order (metric labels). */
export const LOAD_COMPONENTS = ['allocations', 'bandwidth', 'lag', 'memory'] as const;
export type LoadComponentName = (typeof LOAD_COMPONENTS)[number];

/** Each component in [0, 1]; non-finite or negative inputs count as 0. */
export function loadComponents(
  inputs: LoadInputs,
  options: LoadScoreOptions = DEFAULT_LOAD_SCORE_OPTIONS,
): LoadComponents {
  return {
    allocations: ratio(inputs.allocations, inputs.capacity),
    bandwidth: ratio(inputs.relayedBytesPerSecond, inputs.linkCapacity),
    lag: Math.min(clamp01(options.lagCap), ratio(inputs.eventLoopLagMs - (options.lagFloorMs ?? 0), options.lagFullMs)),
    memory: memoryComponent(inputs.memory),
  };
}

export function memoryComponent(m: MemoryInputs | undefined): number {
  if (m === undefined) return 0;
  return Math.max(ratio(m.heapUsedBytes, m.heapLimitBytes), ratio(m.rssBytes, m.budgetBytes));
}

/** max(components) in [0, 1]; 1 means full. */
export function loadScore(inputs: LoadInputs, options: LoadScoreOptions = DEFAULT_LOAD_SCORE_OPTIONS): number {
  return scoreOf(loadComponents(inputs, options));
}

export function scoreOf(c: LoadComponents): number {
  return Math.max(c.allocations, c.bandwidth, c.lag, c.memory);
}

/** value / limit clamped to [0, 1]; 0 when the limit is 0 (unlimited or unknown) or an input is not finite. */
export function ratio(value: number, limit: number): number {
  if (!(limit > 0) || !Number.isFinite(limit)) return 0;
  return clamp01(value / limit);
}

function clamp01(x: number): number {
  if (!(x > 0)) return 0; // also NaN
  return x >= 1 ? 1 : x;
}
