/**
 * The cluster store: what relays and router agents share. Two implementations:
 * MemoryClusterStore (memory-store.ts, the embedded default: one relay, no Redis) and
 * RedisClusterStore (redis-store.ts, ioredis; URLs: see redis-url.ts).
 *
 * Contract (both implementations, test/integration/cluster/contract.ts):
 *  - Reads are synchronous and come from a local cache (`relays()`, `secrets()`, ...):
 *    nothing on a packet path ever awaits the store.
 *  - Writes never throw for backend trouble and never hang: they resolve 'written' when
 *    the backend took them, 'queued' when it is unreachable; queued state (own heartbeats,
 *    announcements, address claims, secret changes, the nonce key) is written again when
 *    the backend returns (re-register and re-publish on reconnect).
 *  - While the backend is down, the cache keeps serving the last known state.
 *  - Invalid arguments (empty id, bad secret) throw AnyturnError ATN_ERR_CONFIG_INVALID (records.ts).
 */
import type { TypedEmitter } from '../events.js';
import type {
  AnnouncementInput,
  AnnouncementRecord,
  ClusterStoreEvents,
  ConnectionState,
  PopSummary,
  RelayedAddress,
  RelayHeartbeat,
  RelayRecord,
  WriteResult,
} from './types.js';

export interface ClusterStore
  extends Pick<TypedEmitter<ClusterStoreEvents>, 'on' | 'once' | 'off' | 'wait'> {
  readonly kind: 'memory' | 'redis';

  /** Connects and loads the initial state. Resolves even when the backend is unreachable. */
  start(): Promise<void>;
  /** Idempotent. Does not deregister anything (records expire by TTL). */
  close(): Promise<void>;
  connectionState(): ConnectionState;

  // --- relay registry -------------------------------------------------------------
  /** Writes (or refreshes) the relay's record; it expires `ttlMs` after the last heartbeat. */
  heartbeat(relay: RelayHeartbeat, ttlMs: number): Promise<WriteResult>;
  /** Removes the record now (clean shutdown) and stops re-registering it. */
  deregister(relayId: string): Promise<WriteResult>;
  /** Live records from the cache (sorted by pop, then id). */
  relays(): RelayRecord[];
  relay(id: string): RelayRecord | undefined;
  /** Per-PoP aggregates of `relays()` and `announcements()`. */
  popSummaries(): PopSummary[];
  /** Reloads the cache from the backend now (also done on a timer). Never throws. */
  refresh(): Promise<void>;

  // --- router agents' announcement decisions -------------------------------------
  publishAnnouncement(announcement: AnnouncementInput, ttlMs: number): Promise<WriteResult>;
  announcements(): AnnouncementRecord[];

  // --- REST auth secrets (rotation) ---------------------------------------------------
  /** Newest first. Subscribers get the 'secrets' event on every change, cluster-wide. */
  secrets(): string[];
  addSecret(secret: string): Promise<WriteResult>;
  retireSecret(secret: string): Promise<WriteResult>;

  // --- overlay keys (src/overlay/keyring.ts) ---------------------------------------------
  /** Newest first (the newest signs). Subscribers get the 'overlayKeys' event on every change, cluster-wide. */
  overlayKeys(): string[];
  addOverlayKey(key: string): Promise<WriteResult>;
  retireOverlayKey(key: string): Promise<WriteResult>;

  // --- per-tenant egress table (relay/turn/egress.ts) ---------------------------------------
  /**
   * `tenant=uplink` rules, newest first (the newest rule of a tenant wins); each relay maps uplink names to its own
   * relay addresses (`uplink NAME=IP`). Subscribers get the 'egressRules' event on every change, cluster-wide.
   */
  egressRules(): string[];
  addEgressRule(rule: string): Promise<WriteResult>;
  retireEgressRule(rule: string): Promise<WriteResult>;

  // --- fleet nonce key ------------------------------------------------------------------
  /**
   * The fleet-wide nonce key: created once, atomically (SET NX), shared by every relay.
   * When the backend is unreachable a provisional local key is returned; the 'nonceKey'
   * event announces the fleet key once it can be read.
   */
  nonceKey(): Promise<Buffer>;
  /** The key last loaded (undefined before the first `nonceKey()`). */
  cachedNonceKey(): Buffer | undefined;

  // --- relayed transport address -> owning relay ---------------------------------------
  /** Set on allocate (and again on refresh): `address` belongs to `relayId` for `ttlMs`. */
  claimRelayedAddress(address: RelayedAddress, relayId: string, ttlMs: number): Promise<WriteResult>;
  /** Removed on free; only if still owned by `relayId`. */
  releaseRelayedAddress(address: RelayedAddress, relayId: string): Promise<WriteResult>;
  /** Reads through to the backend; falls back to the cache when it is unreachable. */
  ownerOfRelayedAddress(address: RelayedAddress): Promise<string | undefined>;
  /** Cache only (own claims and earlier look-ups). */
  cachedOwnerOfRelayedAddress(address: RelayedAddress): string | undefined;
}

export interface OpenClusterStoreOptions {
  /** Absent: the in-memory store. */
  redisUrl?: string;
  keyPrefix?: string;
  refreshIntervalMs?: number;
  log: import('../log.js').Logger;
  clock?: import('../clock.js').Clock;
}

/** Creates (does not start) the store the options ask for; loads ioredis only when needed. */
export async function openClusterStore(opts: OpenClusterStoreOptions): Promise<ClusterStore> {
  if (opts.redisUrl === undefined) {
    const { MemoryClusterStore } = await import('./memory-store.js');
    return new MemoryClusterStore({ clock: opts.clock });
  }
  const { RedisClusterStore } = await import('./redis-store.js');
  return new RedisClusterStore({
    url: opts.redisUrl,
    keyPrefix: opts.keyPrefix,
    refreshIntervalMs: opts.refreshIntervalMs,
    log: opts.log,
    clock: opts.clock,
  });
}
