/**
 * Peer transport address -> the anyturn relay that owns it as a relayed address (the cluster store's index), cached
 * for the data path: a hit costs two Map look-ups. A miss asks the store's local cache at once and, for a shared
 * store, starts one look-up in the background (bounded); until it answers, the datagram goes the public way.
 * Answers are kept `positiveTtlMs` (an owner) or `negativeTtlMs` (no relay owns it).
 */
import type { ClusterStore } from '../../src/cluster/store.js';

interface Entry {
  owner: string | undefined;
  expiresAt: number;
}

export interface RouteCacheOptions {
  positiveTtlMs?: number;
  negativeTtlMs?: number;
  /** Entries kept (cleared when full). */
  maxEntries?: number;
  /** Background look-ups at once. */
  maxPending?: number;
}

export class RouteCache {
  readonly #store: Pick<ClusterStore, 'cachedOwnerOfRelayedAddress' | 'ownerOfRelayedAddress' | 'kind'>;
  readonly #entries = new Map<string, Map<number, Entry>>();
  readonly #pending = new Set<string>();
  readonly #positiveTtlMs: number;
  readonly #negativeTtlMs: number;
  readonly #maxEntries: number;
  readonly #maxPending: number;
  #size = 0;

  constructor(store: Pick<ClusterStore, 'cachedOwnerOfRelayedAddress' | 'ownerOfRelayedAddress' | 'kind'>, opts: RouteCacheOptions = {}) {
    this.#store = store;
    this.#positiveTtlMs = opts.positiveTtlMs ?? 10_000;
    this.#negativeTtlMs = opts.negativeTtlMs ?? 2_000;
    this.#maxEntries = opts.maxEntries ?? 100_000;
    this.#maxPending = opts.maxPending ?? 64;
  }

  /** The owning relay's id, or undefined (no relay, or not known yet). Per packet: no await, no throw. */
  owner(family: 4 | 6, address: string, port: number, now: number): string | undefined {
    const e = this.#entries.get(address)?.get(port);
    if (e !== undefined && e.expiresAt > now) return e.owner;
    const cached = this.#store.cachedOwnerOfRelayedAddress({ family, address, port });
    if (cached !== undefined || this.#store.kind === 'memory') {
      this.#set(address, port, cached, now);
      return cached;
    }
    this.#set(address, port, undefined, now);
    this.#lookup(family, address, port, now);
    return undefined;
  }

  get size(): number {
    return this.#size;
  }

  #set(address: string, port: number, owner: string | undefined, now: number): void {
    if (this.#size >= this.#maxEntries) {
      this.#entries.clear();
      this.#size = 0;
    }
    let ports = this.#entries.get(address);
    if (ports === undefined) this.#entries.set(address, (ports = new Map()));
    if (!ports.has(port)) this.#size += 1;
    ports.set(port, { owner, expiresAt: now + (owner === undefined ? this.#negativeTtlMs : this.#positiveTtlMs) });
  }

  #lookup(family: 4 | 6, address: string, port: number, now: number): void {
    const key = `${address}|${port}`;
    if (this.#pending.has(key) || this.#pending.size >= this.#maxPending) return;
    this.#pending.add(key);
    this.#store.ownerOfRelayedAddress({ family, address, port }).then(
      (owner) => {
        this.#pending.delete(key);
        if (owner !== undefined) this.#set(address, port, owner, now);
      },
      () => this.#pending.delete(key),
    );
  }
}
