/**
 * Answers to retransmitted requests (RFC 8489 §6.3.1, RFC 8656 §7.2): a request that arrives again with the same
 * transaction id from the same 5-tuple, byte for byte, gets the very bytes of the first response, without running
 * the request again (an Allocate must not become 437, a deleting Refresh must not become 437, a CreatePermission
 * must not refresh twice). A request that reuses a transaction id with other content is not a retransmission
 * (some ICE libraries resend the Allocate with credentials under the id of the challenged one): it is handled as
 * new and replaces the entry.
 *
 * While the first copy is still being handled (Allocate binds sockets asynchronously) the entry is `pending`
 * and retransmits are dropped: the client will retransmit again.
 *
 * Bounded in size (oldest first out, Map insertion order) and in time (entries older than `ttlMs` are ignored
 * and pruned).
 */

/** One request being handled or answered; `complete` takes it back (a replaced entry is not the key's any more). */
export interface Entry {
  readonly key: string;
  /** A copy of the request's bytes. */
  readonly request: Buffer;
  response: Buffer | undefined;
  readonly at: number;
}

export type CacheLookup = { state: 'miss' } | { state: 'pending' } | { state: 'hit'; response: Buffer };

const MISS: CacheLookup = Object.freeze({ state: 'miss' });
const PENDING: CacheLookup = Object.freeze({ state: 'pending' });

/** Dead slots at the front of the queue before it is compacted. */
const COMPACT_AT = 1024;

export class RetransmitCache {
  readonly #entries = new Map<string, Entry>();
  /**
   * Entries in the order begun (oldest first), from #head on; an entry no longer in the map (forgotten, replaced,
   * expired) is skipped when it reaches the front. Eviction pops from here instead of asking the Map for its
   * first key: a fresh Map iterator walks over every deleted slot at the front of the table (O(n) per request
   * once the cache is full).
   */
  #queue: Entry[] = [];
  #head = 0;
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

  /** `request`: the bytes of the request now received; only the same bytes are a retransmission. */
  lookup(key: string, request: Buffer, nowMs: number): CacheLookup {
    const e = this.#entries.get(key);
    if (e === undefined) return MISS;
    if (e.at + this.#ttlMs <= nowMs) {
      this.#entries.delete(key);
      return MISS;
    }
    if (!e.request.equals(request)) return MISS;
    return e.response === undefined ? PENDING : { state: 'hit', response: e.response };
  }

  /** Marks a request as being handled; the entry goes back to `complete`. */
  begin(key: string, request: Buffer, nowMs: number): Entry {
    const e: Entry = { key, request: Buffer.from(request), response: undefined, at: nowMs };
    this.#entries.set(key, e); // replaces an earlier entry of the key (left in the queue, skipped there)
    this.#queue.push(e);
    this.#evict(nowMs);
    return e;
  }

  /** Stores the response of a request begun earlier (ignored if it was evicted or replaced meanwhile). */
  complete(entry: Entry, response: Buffer): void {
    if (this.#entries.get(entry.key) === entry) entry.response = response;
  }

  /** Forgets a request (handled without a response worth replaying). */
  forget(entry: Entry): void {
    if (this.#entries.get(entry.key) === entry) this.#entries.delete(entry.key);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Drops expired entries (oldest first: stops at the first live one). */
  prune(nowMs: number): void {
    this.#dropFront(nowMs);
  }

  clear(): void {
    this.#entries.clear();
    this.#queue = [];
    this.#head = 0;
  }

  #evict(nowMs: number): void {
    const q = this.#queue;
    while (this.#entries.size > this.#maxEntries && this.#head < q.length) {
      const oldest = q[this.#head++];
      if (this.#entries.get(oldest.key) === oldest) this.#entries.delete(oldest.key);
    }
    this.#dropFront(nowMs);
  }

  /** Pops the front of the queue while it is dead or expired (deleting the expired ones); compacts the queue. */
  #dropFront(nowMs: number): void {
    const q = this.#queue;
    while (this.#head < q.length) {
      const e = q[this.#head];
      const live = this.#entries.get(e.key) === e;
      if (live && e.at + this.#ttlMs > nowMs) break;
      if (live) this.#entries.delete(e.key);
      this.#head++;
    }
    if (this.#head >= COMPACT_AT && this.#head * 2 >= q.length) {
      this.#queue = q.slice(this.#head);
      this.#head = 0;
    }
  }
}
