/**
 * Answers to retransmitted requests (RFC 8489 §6.3.1, RFC 8656 §7.2): a request that arrives again with the same
 * transaction id from the same 5-tuple gets the very bytes of the first response, without running the request
 * again (an Allocate must not become 437, a deleting Refresh must not become 437, a CreatePermission must not
 * refresh twice).
 *
 * While the first copy is still being handled (Allocate binds sockets asynchronously) the entry is `pending`
 * and retransmits are dropped: the client will retransmit again.
 *
 * Bounded in size (oldest first out, Map insertion order) and in time (entries older than `ttlMs` are ignored
 * and pruned).
 */

interface Entry {
  response: Buffer | undefined;
  at: number;
}

export type CacheLookup = { state: 'miss' } | { state: 'pending' } | { state: 'hit'; response: Buffer };

const MISS: CacheLookup = Object.freeze({ state: 'miss' });
const PENDING: CacheLookup = Object.freeze({ state: 'pending' });

export class RetransmitCache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;

  constructor(options: { maxEntries: number; ttlMs: number }) {
    this.#maxEntries = Math.max(1, options.maxEntries);
    this.#ttlMs = options.ttlMs;
  }

  /** Key of a request: its 5-tuple key and transaction id. */
  static keyOf(clientKey: string, transactionId: Buffer): string {
    return clientKey + '#' + transactionId.toString('latin1');
  }

  lookup(key: string, nowMs: number): CacheLookup {
    const e = this.#entries.get(key);
    if (e === undefined) return MISS;
    if (e.at + this.#ttlMs <= nowMs) {
      this.#entries.delete(key);
      return MISS;
    }
    return e.response === undefined ? PENDING : { state: 'hit', response: e.response };
  }

  /** Marks a request as being handled. */
  begin(key: string, nowMs: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, { response: undefined, at: nowMs });
    this.#evict(nowMs);
  }

  /** Stores the response of a request begun earlier (ignored if it was evicted meanwhile). */
  complete(key: string, response: Buffer): void {
    const e = this.#entries.get(key);
    if (e !== undefined) e.response = response;
  }

  /** Forgets a request (handled without a response worth replaying). */
  forget(key: string): void {
    this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drops expired entries (oldest first: stops at the first live one). */
  prune(nowMs: number): void {
    for (const [key, e] of this.#entries) {
      if (e.at + this.#ttlMs > nowMs) break;
      this.#entries.delete(key);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  #evict(nowMs: number): void {
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    // Cheap incremental pruning: look at the oldest entry only.
    const first = this.#entries.entries().next();
    if (!first.done && first.value[1].at + this.#ttlMs <= nowMs) this.#entries.delete(first.value[0]);
  }
}
