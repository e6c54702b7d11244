/**
 * Rate limit for unauthenticated answers on the anycast address.
 *
 * One datagram to G reaches every relay of the PoP, and each may answer: with a spoofed source address that is a
 * reflection attack. Two token buckets bound it:
 *   - per source IP (default 10 answers/s, burst 20): a victim receives at most `perSourceRate` answers per
 *     second from each relay, whatever the attacker sends;
 *   - global (default 2000/s, burst 2000): a flood from many (spoofed) sources cannot make this relay send more
 *     than `globalRate` answers per second in total.
 *
 * The per-source table is bounded (`maxSources`, LRU: a source that is seen moves to the back, the front is
 * evicted when full), so a flood from millions of sources costs constant memory. An evicted source comes back with
 * a full bucket: that is why the global bucket exists. Time comes from the injected clock; buckets refill lazily.
 */
import type { Clock } from '../../src/clock.js';

export interface RateLimitOptions {
  /** Answers per second per source IP; 0 disables the per-source limit. */
  perSourceRate: number;
  perSourceBurst: number;
  /** Answers per second in total; 0 disables the global limit. */
  globalRate: number;
  globalBurst: number;
  /** Most sources tracked at once (LRU). */
  maxSources: number;
}

export const DEFAULT_RATE_LIMIT_OPTIONS: Readonly<RateLimitOptions> = Object.freeze({
  perSourceRate: 10,
  perSourceBurst: 20,
  globalRate: 2000,
  globalBurst: 2000,
  maxSources: 65_536,
});

/** 'ok' consumed a token; otherwise which bucket was empty. */
export type RateVerdict = 'ok' | 'source' | 'global';

interface Bucket {
  tokens: number;
  lastMs: number;
}

export class SourceRateLimiter {
  readonly #opts: RateLimitOptions;
  readonly #clock: Clock;
  readonly #sources = new Map<string, Bucket>();
  readonly #global: Bucket;
  #evictions = 0;

  constructor(options: RateLimitOptions, clock: Clock) {
    this.#opts = { ...options, maxSources: Math.max(1, Math.floor(options.maxSources)) };
    this.#clock = clock;
    this.#global = { tokens: options.globalBurst, lastMs: clock.now() };
  }

  /** Takes one token for an answer to `sourceIp`, from its bucket and the global one. Hot path: no throw. */
  take(sourceIp: string): RateVerdict {
    const o = this.#opts;
    const now = this.#clock.now();
    let bucket: Bucket | undefined;
    if (o.perSourceRate > 0) {
      bucket = this.#sources.get(sourceIp);
      if (bucket === undefined) {
        if (this.#sources.size >= o.maxSources) this.#evictOldest();
        bucket = { tokens: o.perSourceBurst, lastMs: now };
      } else {
        this.#sources.delete(sourceIp); // re-inserted below: most recently seen at the back
        refill(bucket, now, o.perSourceRate, o.perSourceBurst);
      }
      this.#sources.set(sourceIp, bucket);
      if (bucket.tokens < 1) return 'source';
    }
    if (o.globalRate > 0) {
      refill(this.#global, now, o.globalRate, o.globalBurst);
      if (this.#global.tokens < 1) return 'global';
      this.#global.tokens -= 1;
    }
    if (bucket !== undefined) bucket.tokens -= 1;
    return 'ok';
  }

  /** Sources currently tracked (never above maxSources). */
  get trackedSources(): number {
    return this.#sources.size;
  }

  /** Sources evicted from the table so far (a sign of a many-source flood). */
  get evictions(): number {
    return this.#evictions;
  }

  /** Forgets sources whose bucket has been full again for a while (optional housekeeping; LRU bounds memory anyway). */
  sweep(): number {
    const o = this.#opts;
    if (o.perSourceRate <= 0) return 0;
    const now = this.#clock.now();
    const refillMs = (o.perSourceBurst / o.perSourceRate) * 1000;
    let removed = 0;
    for (const [ip, bucket] of this.#sources) {
      if (now - bucket.lastMs < refillMs) break; // Map order = least recently seen first
      this.#sources.delete(ip);
      removed++;
    }
    return removed;
  }

  #evictOldest(): void {
    const first = this.#sources.keys().next();
    if (!first.done) {
      this.#sources.delete(first.value);
      this.#evictions++;
    }
  }
}

function refill(bucket: Bucket, now: number, rate: number, burst: number): void {
  const elapsed = now - bucket.lastMs;
  if (elapsed > 0) {
    bucket.tokens = Math.min(burst, bucket.tokens + (elapsed * rate) / 1000);
    bucket.lastMs = now;
  }
}
