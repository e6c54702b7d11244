/**
 * Allocation quotas (RFC 8656 §7.2 steps 10: 486 Allocation Quota Reached per user; 508 Insufficient Capacity
 * when the relay is full) and the per-allocation bandwidth cap (a token bucket in bytes).
 *
 * Quota counts an allocation from the moment its Allocate is admitted (before its sockets are bound), so a burst
 * of concurrent Allocates cannot overshoot the limits.
 */

export type Admission = 'ok' | 'capacity' | 'user-quota';

export class Quota {
  readonly #capacity: number;
  readonly #userQuota: number;
  readonly #perUser = new Map<string, number>();
  #total = 0;

  constructor(options: { capacity: number; userQuota: number }) {
    this.#capacity = options.capacity;
    this.#userQuota = options.userQuota;
  }

  /** Admits one allocation for `username` (counted until release) or says why not. */
  admit(username: string): Admission {
    if (this.#total >= this.#capacity) return 'capacity';
    const n = this.#perUser.get(username) ?? 0;
    if (this.#userQuota > 0 && n >= this.#userQuota) return 'user-quota';
    this.#perUser.set(username, n + 1);
    this.#total += 1;
    return 'ok';
  }

  release(username: string): void {
    const n = this.#perUser.get(username);
    if (n === undefined) return;
    if (n <= 1) this.#perUser.delete(username);
    else this.#perUser.set(username, n - 1);
    this.#total -= 1;
  }

  get total(): number {
    return this.#total;
  }

  countFor(username: string): number {
    return this.#perUser.get(username) ?? 0;
  }
}

/** The state of a token bucket, kept as two number fields on the owner (no extra object per allocation). */
export interface TokenBucketState {
  bucketTokens: number;
  bucketAt: number;
}

/**
 * Takes `bytes` from a bucket refilled at `ratePerSecond` up to one second's worth (the burst).
 * False (nothing taken) when there are not enough tokens: the caller drops the datagram. Hot path: arithmetic only.
 */
export function takeTokens(state: TokenBucketState, bytes: number, nowMs: number, ratePerSecond: number): boolean {
  const elapsed = nowMs - state.bucketAt;
  if (elapsed > 0) {
    const refill = state.bucketTokens + (elapsed * ratePerSecond) / 1000;
    state.bucketTokens = refill > ratePerSecond ? ratePerSecond : refill;
    state.bucketAt = nowMs;
  }
  if (state.bucketTokens < bytes) return false;
  state.bucketTokens -= bytes;
  return true;
}
