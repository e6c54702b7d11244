/**
 * Keeps this relay's view in sync with the cluster store (src/cluster/store.ts), in both directions:
 *
 *   out  heartbeat every second (TTL 3 s): id, PoP, unicast addresses per transport (as advertised: behind 1:1 NAT
 *        the external-ip), capacity, allocations, load score, relayed bandwidth, state (active / draining / full);
 *        the relayed transport address (as advertised, Allocation.relayedAddresses) of every
 *        allocation (claimed on `allocation`, re-claimed when a Refresh extends it, released on
 *        `allocationclosed`); deregistration on a clean shutdown.
 *   in   REST secrets (the store's, merged with --auth-secret) into RestSecrets on every 'secrets' event; the
 *        fleet nonce key (store.nonceKey(), then every 'nonceKey' event) into the NonceService when no
 *        --nonce-key was configured; the PoP's live relays as a RelayDirectory for the anycast responder; the
 *        cluster-wide egress table into TurnServer.egress.
 *
 * Nothing here is on a packet path: store writes are started from a timer or from allocation lifecycle events and
 * never awaited there; reads (`relays()`) come from the store's local cache. While the store is unreachable its
 * writes resolve 'queued' and the store writes this relay's state again when it returns; the heartbeat record is
 * the one of that moment (published on the store's `connection` 'up'), not the last one written before the outage.
 */
import type { RestSecrets } from '../src/auth/credential-store.js';
import type { NonceService } from '../src/auth/nonce.js';
import type { Clock } from '../src/clock.js';
import type { ClusterStore } from '../src/cluster/store.js';
import type { ConnectionState, RelayAddress, RelayedAddress, RelayHeartbeat, RelayOverlay, RelayRecord, RelayState } from '../src/cluster/types.js';
import type { Logger } from '../src/log.js';
import { systemTimers, type Timers } from './anycast/delay-queue.js';
import { LoadMonitor, type LoadProvider } from './anycast/load-monitor.js';
import type { AlternateKey, AlternateServers, RelayDirectory, RelayInfo } from './anycast/single-responder.js';
import type { ListenerStatus } from './http/server.js';
import { NO_ADDRESS_MAP, type AddressMap } from './turn/address-map.js';
import type { Allocation } from './turn/allocation.js';
import { familyOf } from './turn/five-tuple.js';
import type { TurnServerEvents } from './turn/turn-server.js';

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1000;
export const DEFAULT_HEARTBEAT_TTL_MS = 3000;
/** How long an address claim outlives its allocation's expiry (clock skew, the sweep's delay). */
export const DEFAULT_CLAIM_GRACE_MS = 5000;

export interface ClusterSyncOptions {
  id: string;
  pop: string;
  /** `--capacity`. */
  capacity: number;
  /** `--link-capacity`, bytes/s (load score when no anycast load monitor is given). */
  linkCapacity: number;
  /** `--memory-budget`, bytes (load score when no anycast load monitor is given); absent = 0. */
  memoryBudget?: number;
  /** `--auth-secret`: always accepted, beside the store's secrets. */
  authSecrets: readonly string[];
  /** Take the nonce key from the store (no --nonce-key configured and a shared store). */
  fleetNonceKey: boolean;
  heartbeatIntervalMs?: number;
  heartbeatTtlMs?: number;
  claimGraceMs?: number;
}

/** What ClusterSync reads of the TurnServer: the allocation count and the allocation lifecycle events. */
export interface AllocationEvents {
  readonly allocationCount: number;
  on<K extends 'allocation' | 'allocationclosed'>(event: K, listener: (...args: TurnServerEvents[K]) => void): unknown;
  off<K extends 'allocation' | 'allocationclosed'>(event: K, listener: (...args: TurnServerEvents[K]) => void): unknown;
}

export interface ClusterSyncDeps {
  store: ClusterStore;
  turn: AllocationEvents;
  restSecrets: RestSecrets;
  nonces: NonceService;
  /** Monotonic counters of relayed bytes (clients + peers). */
  relayedBytes: () => { received: number; sent: number };
  /** The unicast addresses clients reach this relay on (see unicastAddresses()). */
  addresses: () => RelayAddress[];
  draining: () => boolean;
  /** The anycast responder's load monitor; without one, ClusterSync samples its own. */
  load?: LoadProvider;
  /** The overlay's addresses and path measurements (relay/overlay/), sent with every heartbeat. */
  overlay?: () => RelayOverlay;
  /** Where the store's egress table goes (TurnServer.egress). */
  egress?: { setShared(rules: readonly string[]): void };
  clock: Clock;
  log: Logger;
  timers?: Timers;
}

export class ClusterSync {
  readonly #opts: Required<ClusterSyncOptions>;
  readonly #deps: ClusterSyncDeps;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #load: LoadProvider;
  readonly #ownLoad: LoadMonitor | undefined;
  /** Live allocations -> their relayed addresses and the expiry the claims were written for. */
  readonly #claims = new Map<Allocation, { addresses: RelayedAddress[]; expiresAt: number }>();
  readonly #inflight = new Set<Promise<unknown>>();
  #timer: unknown;
  #heartbeating = false;
  #lastBytes: { at: number; total: number } | undefined;
  #bandwidthBps = 0;
  #started = false;
  #closed: Promise<void> | undefined;

  readonly #onSecrets = (secrets: string[]): void => this.#applySecrets(secrets);
  readonly #onEgressRules = (rules: string[]): void => {
    this.#deps.egress?.setShared(rules);
    this.#log.info({ rules: rules.length }, 'egress table updated');
  };
  readonly #onNonceKey = (key: Buffer): void => {
    this.#deps.nonces.setKey(key);
    this.#log.info('fleet nonce key adopted from the cluster store');
  };
  /** The store is back (a restart may have emptied it): publish the state of now, not the last heartbeat's. */
  readonly #onConnection = (state: ConnectionState): void => {
    if (state === 'up' && this.#closed === undefined) void this.#publish();
  };
  readonly #onAllocation = (allocation: Allocation): void => this.#claim(allocation);
  readonly #onAllocationClosed = (allocation: Allocation): void => this.#release(allocation);

  constructor(options: ClusterSyncOptions, deps: ClusterSyncDeps) {
    this.#opts = {
      heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
      heartbeatTtlMs: DEFAULT_HEARTBEAT_TTL_MS,
      claimGraceMs: DEFAULT_CLAIM_GRACE_MS,
      memoryBudget: 0,
      ...options,
      authSecrets: [...options.authSecrets],
    };
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'cluster-sync' });
    this.#timers = deps.timers ?? systemTimers;
    if (deps.load !== undefined) {
      this.#load = deps.load;
    } else {
      this.#ownLoad = new LoadMonitor(
        { capacity: options.capacity, linkCapacity: options.linkCapacity, memoryBudget: options.memoryBudget },
        { sources: { allocations: () => deps.turn.allocationCount, relayedBytes: deps.relayedBytes }, clock: deps.clock, timers: deps.timers },
      ).start();
      this.#load = this.#ownLoad;
    }
  }

  /**
   * Subscribes to the store and the TurnServer, applies the store's secrets and (when asked) the fleet nonce key,
   * and writes the first heartbeat. The store must be started. Never throws for store trouble.
   */
  async start(): Promise<void> {
    if (this.#started || this.#closed !== undefined) return;
    this.#started = true;
    const { store, turn } = this.#deps;
    store.on('secrets', this.#onSecrets);
    this.#applySecrets(store.secrets());
    if (this.#deps.egress !== undefined) {
      store.on('egressRules', this.#onEgressRules);
      this.#deps.egress.setShared(store.egressRules());
    }
    if (this.#opts.fleetNonceKey) {
      store.on('nonceKey', this.#onNonceKey);
      try {
        this.#deps.nonces.setKey(await store.nonceKey());
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'fleet nonce key not loaded; keeping the local one');
      }
    }
    store.on('connection', this.#onConnection);
    turn.on('allocation', this.#onAllocation);
    turn.on('allocationclosed', this.#onAllocationClosed);
    if (this.#opts.authSecrets.length === 0 && store.secrets().length === 0 && store.kind === 'redis') {
      this.#log.warn('no REST secret yet: add one cluster-wide with `anyturn secret add --redis URL SECRET`');
    }
    await this.#heartbeat();
    this.#schedule();
  }

  /** The record this relay would write now. */
  heartbeatRecord(): RelayHeartbeat {
    const allocations = this.#deps.turn.allocationCount;
    const load = this.#load.score();
    return {
      id: this.#opts.id,
      pop: this.#opts.pop,
      addresses: this.#deps.addresses(),
      capacity: this.#opts.capacity,
      allocations,
      load,
      bandwidthBps: this.#bandwidthBps,
      state: relayState(this.#deps.draining(), allocations, this.#opts.capacity, load),
      ...(this.#deps.overlay !== undefined ? { overlay: this.#deps.overlay() } : {}),
    };
  }

  /** Number of allocations whose relayed addresses are claimed in the store. */
  get claimedAllocations(): number {
    return this.#claims.size;
  }

  /** Idempotent: stops the heartbeat, waits for the writes under way, and deregisters this relay. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#ownLoad?.close();
      const { store, turn } = this.#deps;
      store.off('secrets', this.#onSecrets);
      store.off('egressRules', this.#onEgressRules);
      store.off('nonceKey', this.#onNonceKey);
      store.off('connection', this.#onConnection);
      turn.off('allocation', this.#onAllocation);
      turn.off('allocationclosed', this.#onAllocationClosed);
      await Promise.allSettled([...this.#inflight]);
      if (this.#started) {
        const result = await store.deregister(this.#opts.id).catch(() => 'queued' as const);
        this.#log.info({ result }, 'deregistered from the cluster store');
      }
    })();
    return this.#closed;
  }

  // --- internals ---------------------------------------------------------------------------

  #schedule(): void {
    if (this.#closed !== undefined) return;
    this.#timer = this.#timers.setTimeout(() => {
      void this.#heartbeat().finally(() => this.#schedule());
    }, this.#opts.heartbeatIntervalMs);
  }

  async #heartbeat(): Promise<void> {
    if (this.#heartbeating || this.#closed !== undefined) return;
    this.#heartbeating = true;
    try {
      this.#sampleBandwidth();
      await this.#publish();
    } finally {
      this.#heartbeating = false;
    }
  }

  /**
   * Renews the claims and writes the record of now. The store keeps the record as this relay's own at once (before
   * any await), so a resync that follows writes this one, never an older heartbeat.
   */
  async #publish(): Promise<void> {
    try {
      this.#renewClaims();
      await this.#track(this.#deps.store.heartbeat(this.heartbeatRecord(), this.#opts.heartbeatTtlMs));
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'heartbeat refused');
    }
  }

  #sampleBandwidth(): void {
    const now = this.#deps.clock.now();
    const bytes = this.#deps.relayedBytes();
    const total = bytes.received + bytes.sent;
    const last = this.#lastBytes;
    if (last !== undefined && now > last.at) {
      this.#bandwidthBps = Math.round((Math.max(0, total - last.total) * 8 * 1000) / (now - last.at));
    }
    this.#lastBytes = { at: now, total };
  }

  /** The configured `auth-secret`s changed (reload): merged again with the store's, effective on the next request. */
  setConfiguredSecrets(secrets: readonly string[]): void {
    this.#opts.authSecrets = [...secrets];
    this.#applySecrets(this.#deps.store.secrets());
  }

  #applySecrets(fromStore: readonly string[]): void {
    const merged = mergeSecrets(fromStore, this.#opts.authSecrets);
    this.#deps.restSecrets.setSecrets(merged);
    this.#log.info({ secrets: merged.length, fromStore: fromStore.length }, 'REST secrets updated');
  }

  #claim(allocation: Allocation): void {
    const expiresAt = allocation.expiresAt;
    const addresses = this.#claims.get(allocation)?.addresses ?? allocation.relayedAddresses;
    this.#claims.set(allocation, { addresses, expiresAt });
    const ttlMs = this.#claimTtl(expiresAt);
    for (const address of addresses) {
      this.#track(this.#deps.store.claimRelayedAddress(address, this.#opts.id, ttlMs)).catch((err: unknown) =>
        this.#log.debug({ err: (err as Error).message }, 'relayed address not claimed'),
      );
    }
  }

  /** Allocations a Refresh extended (or shortened) since their last claim are claimed again. */
  #renewClaims(): void {
    for (const [allocation, claim] of this.#claims) {
      if (allocation.expiresAt !== claim.expiresAt) this.#claim(allocation);
    }
  }

  #release(allocation: Allocation): void {
    const claim = this.#claims.get(allocation);
    if (claim === undefined) return;
    this.#claims.delete(allocation);
    for (const address of claim.addresses) {
      this.#track(this.#deps.store.releaseRelayedAddress(address, this.#opts.id)).catch((err: unknown) =>
        this.#log.debug({ err: (err as Error).message }, 'relayed address not released'),
      );
    }
  }

  #claimTtl(expiresAt: number): number {
    return Math.max(1, Math.ceil(expiresAt - this.#deps.clock.now()) + this.#opts.claimGraceMs);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = (): void => {
      this.#inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }
}

/** draining > full (no room, or a load score of 1) > active. */
export function relayState(draining: boolean, allocations: number, capacity: number, load: number): RelayState {
  if (draining) return 'draining';
  if (allocations >= capacity || load >= 1) return 'full';
  return 'active';
}

/** The store's secrets (newest first), then the configured ones it does not hold; no duplicates. */
export function mergeSecrets(fromStore: readonly string[], configured: readonly string[]): string[] {
  return [...new Set([...fromStore, ...configured])];
}

const isWildcard = (ip: string): boolean => ip === '0.0.0.0' || ip.replace(/[:0]/g, '') === '';

/**
 * What clients reach this relay on: every unicast listener (a wildcard one stands for the relayed addresses of
 * its family, `--relay-ip`), as advertised (behind 1:1 NAT the `--external-ip` mapping of each address).
 * Anycast listeners are left out: G is not this relay's own.
 */
export function unicastAddresses(
  listeners: readonly ListenerStatus[],
  relayIp: readonly string[],
  addresses: Pick<AddressMap, 'advertised'> = NO_ADDRESS_MAP,
): RelayAddress[] {
  const out: RelayAddress[] = [];
  const seen = new Set<string>();
  const add = (transport: RelayAddress['transport'], bound: string, port: number): void => {
    const address = addresses.advertised(bound);
    const key = `${transport}|${address}|${port}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ transport, family: familyOf(address), address, port });
  };
  for (const l of listeners) {
    if (l.role !== 'unicast') continue;
    if (!isWildcard(l.address)) {
      add(l.protocol, l.address, l.port);
      continue;
    }
    const family = familyOf(l.address);
    for (const ip of relayIp) if (familyOf(ip) === family) add(l.protocol, ip, l.port);
  }
  return out;
}

/**
 * The live relays of one PoP from the store's registry cache, for the anycast responder (`--race single`, and
 * stream fallbacks from a full or draining relay). Rebuilt at most every `maxAgeMs` (it is read for requests on
 * G, never per relayed packet). While the store is unreachable the cache keeps the last known registry.
 */
export class ClusterRelayDirectory implements RelayDirectory {
  #cached: readonly RelayInfo[] = [];
  #builtAt = -Infinity;

  constructor(
    private readonly store: Pick<ClusterStore, 'relays'>,
    private readonly pop: string,
    private readonly clock: Clock,
    private readonly maxAgeMs = 250,
  ) {}

  relays(): readonly RelayInfo[] {
    const now = this.clock.now();
    if (now - this.#builtAt >= this.maxAgeMs || now < this.#builtAt) {
      this.#cached = this.store.relays().filter((r) => r.pop === this.pop).map(relayInfo);
      this.#builtAt = now;
    }
    return this.#cached;
  }
}

/** A registry record as the responder sees it: full counts as load 1 (never chosen). */
export function relayInfo(record: RelayRecord): RelayInfo {
  const alternates: AlternateServers = {};
  for (const a of record.addresses) {
    const key: AlternateKey = `${a.transport}${a.family}`;
    alternates[key] ??= { family: a.family, address: a.address, port: a.port };
  }
  return {
    id: record.id,
    load: record.state === 'full' ? 1 : record.load,
    draining: record.state === 'draining',
    alternates,
  };
}
