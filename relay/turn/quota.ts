/**
 * Allocation quotas (RFC 8656 §7.2 steps 10: 486 Allocation Quota Reached per user; 508 Insufficient Capacity
 * when the relay is full), the per-user count of channel bindings (ChannelBind past it: 508, RFC 8656 §11.2) and
 * the per-allocation bandwidth cap (a token bucket in bytes).
 *
 * Quota counts an allocation from the moment its Allocate is admitted (before its sockets are bound), so a burst
 * of concurrent Allocates cannot overshoot the limits. A held port reservation (EVEN-PORT R=1) counts as one
 * allocation of its holder until an Allocate claims it (`transfer`: the claimant takes its slot over) or it
 * expires (`release`), so that reservations cannot escape the quota or the capacity.
 */

export type Admission = 'ok' | 'capacity' | 'user-quota';

/**
 * The name a user's quota is kept under: the user part of a TURN REST username (`expiry:user` → `user`, as each
 * REST credential has its own username), else the username itself.
 */
export function quotaKeyOf(username: string): string {
  const colon = username.indexOf(':');
  if (colon <= 0 || colon === username.length - 1) return username;
  for (let i = 0; i < colon; i++) {
    const c = username.charCodeAt(i);
    if (c < 48 || c > 57) return username;
  }
  return username.slice(colon + 1);
}

/** Told by each Allocation when it gains or loses channel bindings. */
export interface ChannelLedger {
  channelsChanged(username: string, delta: number): void;
}

export class Quota implements ChannelLedger {
  readonly #capacity: number;
  readonly #userQuota: number;
  readonly #userChannelQuota: number;
  readonly #perUser = new Map<string, number>();
  readonly #channelsPerUser = new Map<string, number>();
  #total = 0;

  constructor(options: { capacity: number; userQuota: number; userChannelQuota?: number }) {
    this.#capacity = options.capacity;
    this.#userQuota = options.userQuota;
    this.#userChannelQuota = options.userChannelQuota ?? 0;
  }

  /** Whether `username` may bind one more channel (its allocations together hold fewer than the quota). */
  channelFits(username: string): boolean {
    return this.#userChannelQuota === 0 || this.channelsOf(username) < this.#userChannelQuota;
  }

  channelsOf(username: string): number {
    return this.#channelsPerUser.get(quotaKeyOf(username)) ?? 0;
  }

  channelsChanged(username: string, delta: number): void {
    const key = quotaKeyOf(username);
    const n = (this.#channelsPerUser.get(key) ?? 0) + delta;
    if (n > 0) this.#channelsPerUser.set(key, n);
    else this.#channelsPerUser.delete(key);
  }

  /** Admits one allocation for `username` (counted until release) or says why not. */
  admit(username: string): Admission {
    if (this.#total >= this.#capacity) return 'capacity';
    const key = quotaKeyOf(username);
    const n = this.#perUser.get(key) ?? 0;
    if (this.#userQuota > 0 && n >= this.#userQuota) return 'user-quota';
    this.#perUser.set(key, n + 1);
    this.#total += 1;
    return 'ok';
  }

  /**
   * Moves one counted slot from `from` to `to` (an Allocate claims a reservation `from` holds): the total does not
   * change. 'user-quota' (nothing moved) when `to` is another user who has no room left.
   */
  transfer(from: string, to: string): Admission {
    const fromKey = quotaKeyOf(from);
    const toKey = quotaKeyOf(to);
    if (fromKey === toKey) return 'ok';
    const n = this.#perUser.get(toKey) ?? 0;
    if (this.#userQuota > 0 && n >= this.#userQuota) return 'user-quota';
    this.#perUser.set(toKey, n + 1);
    this.#decrement(fromKey);
    return 'ok';
  }

  release(username: string): void {
    if (this.#decrement(quotaKeyOf(username))) this.#total -= 1;
  }

  #decrement(key: string): boolean {
    const n = this.#perUser.get(key);
    if (n === undefined) return false;
    if (n <= 1) this.#perUser.delete(key);
    else this.#perUser.set(key, n - 1);
    return true;
  }

  get total(): number {
    return this.#total;
  }

  countFor(username: string): number {
    return this.#perUser.get(quotaKeyOf(username)) ?? 0;
  }
}

/** The state of a token bucket, kept as two number fields on the owner (no extra object per allocation). */
export interface TokenBucketState {
  bucketTokens: number;
  bucketAt: number;
}

/** Largest UDP payload: the smallest burst a bandwidth bucket allows. */
const MAX_DATAGRAM = 65535;

/**
 * Takes `bytes` from a bucket refilled at `ratePerSecond` up to one second's worth (the burst), and never less
 * than one largest UDP datagram, so a cap below a datagram's size slows it instead of blocking it for good.
 * False (nothing taken) when there are not enough tokens: the caller drops the datagram. Hot path: arithmetic only.
 */
export function takeTokens(state: TokenBucketState, bytes: number, nowMs: number, ratePerSecond: number): boolean {
  const elapsed = nowMs - state.bucketAt;
  if (elapsed > 0) {
    const refill = state.bucketTokens + (elapsed * ratePerSecond) / 1000;
    const burst = ratePerSecond > MAX_DATAGRAM ? ratePerSecond : MAX_DATAGRAM;
    state.bucketTokens = refill > burst ? burst : refill;
    state.bucketAt = nowMs;
  }
  if (state.bucketTokens < bytes) return false;
  state.bucketTokens -= bytes;
  return true;
}
