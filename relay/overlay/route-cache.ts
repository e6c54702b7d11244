/**
 * Peer transport address -> the anyturn relay that owns it as a relayed address, cached for the data path (a hit
 * costs two Map look-ups). A miss is answered at once, never awaited: the cluster store's relayed-address index as
 * far as its local cache knows (this relay's own claims and earlier look-ups), else the registry: every overlay
 * relay's heartbeat says on which relay IPs and in which port range its relayed addresses live (peers.ts).
 * Answers are kept `ttlMs`; an address no relay owns is remembered as such for the same time.
 */
import type { ClusterStore } from '../../src/cluster/store.js';

interface Entry {
  owner: string | undefined;
  expiresAt: number;
}

export interface RouteCacheOptions {
  ttlMs?: number;
  /** Entries kept (cleared when full). */
  maxEntries?: number;
}

export type RelayedByRegistry = (address: string, port: number) => string | undefined;

export class RouteCache {
  readonly #store: Pick<ClusterStore, 'cachedOwnerOfRelayedAddress'>;
  readonly #registry: RelayedByRegistry;
  readonly #entries = new Map<string, Map<number, Entry>>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  #size = 0;

  constructor(store: Pick<ClusterStore, 'cachedOwnerOfRelayedAddress'>, registry: RelayedByRegistry, opts: RouteCacheOptions = {}) {
    this.#store = store;
    this.#registry = registry;
    this.#ttlMs = opts.ttlMs ?? 2_000;
    this.#maxEntries = opts.maxEntries ?? 100_000;
  }

  /** The owning relay's id, or undefined (no relay). Per packet: no await, no throw. */
  owner(family: 4 | 6, address: string, port: number, now: number): string | undefined {
    const e = this.#entries.get(address)?.get(port);
    if (e !== undefined && e.expiresAt > now) return e.owner;
    const owner = this.#store.cachedOwnerOfRelayedAddress({ family, address, port }) ?? this.#registry(address, port);
    this.#set(address, port, owner, now);
    return owner;
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
    ports.set(port, { owner, expiresAt: now + this.#ttlMs });
  }
}
