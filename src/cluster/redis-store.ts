/**
 * The cluster store on Redis (ioredis): see store.ts for the contract and keys.ts for
 * the data layout.
 *
 * Reads come from a cache refreshed on a timer (default 1 s) and on pub/sub
 * notifications (secrets). Writes go straight to Redis; when Redis is unreachable they
 * resolve 'queued' and this process's own state (its relays' last heartbeats, its
 * agents' announcements, its address claims, secret changes, the nonce key) is written
 * again as soon as Redis is back (`ready` → resync). If Redis came back empty (restart
 * without persistence) the secrets and the nonce key are seeded again from the cache.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { TypedEmitter } from '../events.js';
import type { Logger } from '../log.js';
import { announcementMember, ClusterKeys } from './keys.js';
import { RedisAddressIndex } from './redis-address-index.js';
import { decodeAnnouncementRecord, decodeRelayRecord } from './redis-codec.js';
import { createRedisClient, type RedisClient } from './redis-connection.js';
import { RedisRecordIndex } from './redis-record-index.js';
import { RedisSecretBook, type SecretChange } from './redis-secrets.js';
import { parseRedisUrl, redactRedisUrl } from './redis-url.js';
import { announcementRecordOf, checkClaim, checkEgressRule, checkOverlayKey, checkSecret, compareAnnouncements, compareRelays, relayRecordOf } from './records.js';
import type { ClusterStore } from './store.js';
import { summarize } from './summary.js';
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

export interface RedisClusterStoreOptions {
  /** See redis-url.ts for the accepted forms. */
  url: string;
  keyPrefix?: string;
  /** Cache refresh period; default 1000 ms. */
  refreshIntervalMs?: number;
  /** Default 1000 ms: the longest a write can keep its caller waiting. */
  commandTimeoutMs?: number;
  /** Default 2000 ms. */
  reconnectMaxDelayMs?: number;
  /** The longest start() waits for Redis before it resolves degraded; default 3000 ms. */
  startTimeoutMs?: number;
  log: Logger;
  clock?: Clock;
}

export class RedisClusterStore extends TypedEmitter<ClusterStoreEvents> implements ClusterStore {
  readonly kind = 'redis' as const;
  readonly #keys: ClusterKeys;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #client: RedisClient;
  readonly #sub: RedisClient;
  readonly #refreshIntervalMs: number;
  readonly #startTimeoutMs: number;
  #timer: NodeJS.Timeout | undefined;
  #state: ConnectionState = 'down';
  #closed = false;
  /** Something could not be written: resync on the next tick. */
  #dirty = false;
  #resyncWanted = false;
  #resyncRunning: Promise<void> | undefined;

  #relays = new Map<string, RelayRecord>();
  #announcements = new Map<string, AnnouncementRecord>();
  readonly #secrets: RedisSecretBook;
  readonly #overlayKeys: RedisSecretBook;
  readonly #egressRules: RedisSecretBook;
  readonly #addresses: RedisAddressIndex;
  /** The Redis data epoch this process last saw. */
  #epoch: string | undefined;
  #nonceKey: Buffer | undefined;
  readonly #registry: RedisRecordIndex<RelayRecord>;
  readonly #announcementIndex: RedisRecordIndex<AnnouncementRecord>;

  constructor(opts: RedisClusterStoreOptions) {
    super();
    const target = parseRedisUrl(opts.url);
    this.#keys = new ClusterKeys(opts.keyPrefix);
    this.#log = opts.log.child({ component: 'cluster-store', redis: redactRedisUrl(opts.url) });
    this.logListenerErrorsTo(this.#log);
    this.#clock = opts.clock ?? systemClock;
    this.#refreshIntervalMs = opts.refreshIntervalMs ?? 1000;
    this.#startTimeoutMs = opts.startTimeoutMs ?? 3000;
    const conn = {
      commandTimeoutMs: opts.commandTimeoutMs ?? 1000,
      connectTimeoutMs: 2000,
      reconnectMaxDelayMs: opts.reconnectMaxDelayMs ?? 2000,
    };
    this.#client = createRedisClient(target, conn);
    this.#sub = createRedisClient(target, conn);
    const k = this.#keys;
    this.#secrets = new RedisSecretBook(
      this.#client, { set: k.secrets, version: k.secretsVersion, events: k.events, message: 'secrets' }, this.#clock,
      (list) => this.safeEmit('secrets', list),
    );
    this.#overlayKeys = new RedisSecretBook(
      this.#client, { set: k.overlayKeys, version: k.overlayKeysVersion, events: k.events, message: 'overlay-keys' },
      this.#clock, (list) => this.safeEmit('overlayKeys', list),
    );
    this.#egressRules = new RedisSecretBook(
      this.#client, { set: k.egressRules, version: k.egressRulesVersion, events: k.events, message: 'egress' },
      this.#clock, (list) => this.safeEmit('egressRules', list),
    );
    this.#addresses = new RedisAddressIndex(this.#client, this.#keys, this.#clock);
    this.#registry = new RedisRecordIndex(this.#client, this.#clock, {
      index: this.#keys.relayIndex,
      keyOf: (id) => this.#keys.relay(id),
      decode: decodeRelayRecord,
    });
    this.#announcementIndex = new RedisRecordIndex(this.#client, this.#clock, {
      index: this.#keys.announcementIndex,
      keyOf: (member) => this.#keys.announcement(member),
      decode: decodeAnnouncementRecord,
    });
    this.#client.on('ready', () => this.#onReady());
    this.#client.on('close', () => this.#setState('down'));
    this.#client.on('end', () => this.#setState('down'));
    this.#client.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis error'));
    this.#sub.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis subscriber error'));
    this.#sub.on('ready', () => {
      this.#sub.subscribe(this.#keys.events).catch(() => undefined);
    });
    this.#sub.on('message', (_channel: string, message: string) => {
      if (message === 'secrets') void this.#guard(() => this.#secrets.load(true));
      if (message === 'overlay-keys') void this.#guard(() => this.#overlayKeys.load(true));
      if (message === 'egress') void this.#guard(() => this.#egressRules.load(true));
    });
  }

  async start(): Promise<void> {
    if (this.#closed) return;
    this.#timer = setInterval(() => this.#tick(), this.#refreshIntervalMs);
    this.#timer.unref();
    this.#sub.connect().catch(() => undefined);
    // Bounded: a Redis Cluster that is not ready yet (or a sentinel without a master)
    // keeps connect() pending while ioredis retries; the store starts degraded instead.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve(`not ready after ${this.#startTimeoutMs} ms`), this.#startTimeoutMs);
    });
    const connected = this.#client.connect().then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    const failure = await Promise.race([connected, timeout]);
    clearTimeout(timer);
    if (failure !== undefined) {
      this.#log.warn({ err: failure }, 'cluster store unreachable at start; retrying in the background');
      return;
    }
    await this.#requestResync();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#client.disconnect();
    this.#sub.disconnect();
    this.#state = 'down';
  }

  connectionState(): ConnectionState {
    return this.#state;
  }

  // --- registry ----------------------------------------------------------------------

  async heartbeat(relay: RelayHeartbeat, ttlMs: number): Promise<WriteResult> {
    const record = relayRecordOf(relay, ttlMs, this.#clock.now());
    const write = this.#registry.own(record.id, record);
    this.#relays.set(record.id, record);
    return this.#write(write);
  }

  async deregister(relayId: string): Promise<WriteResult> {
    const remove = this.#registry.disown(relayId);
    this.#relays.delete(relayId);
    return this.#write(remove);
  }

  relays(): RelayRecord[] {
    return [...this.#relays.values()].sort(compareRelays);
  }

  relay(id: string): RelayRecord | undefined {
    return this.#relays.get(id);
  }

  popSummaries(): PopSummary[] {
    return summarize(this.relays(), this.announcements());
  }

  async refresh(): Promise<void> {
    if (this.#state !== 'up' || this.#closed) return;
    await this.#guard(async () => {
      const [relays, announcements] = await Promise.all([
        this.#registry.load(),
        this.#announcementIndex.load(),
        this.#secrets.load(false),
        this.#overlayKeys.load(false),
        this.#egressRules.load(false),
      ]);
      // Own records are always known locally, even when their last write was lost.
      for (const [id, own] of this.#registry.ownLive()) if (!relays.has(id)) relays.set(id, own);
      this.#relays = relays;
      this.#announcements = new Map([...announcements.values()].map((a) => [announcementMember(a.pop, a.agent), a]));
      this.safeEmit('registry', this.relays());
    });
  }

  // --- announcements -----------------------------------------------------------------

  async publishAnnouncement(a: AnnouncementInput, ttlMs: number): Promise<WriteResult> {
    const record = announcementRecordOf(a, ttlMs, this.#clock.now());
    const member = announcementMember(a.pop, a.agent);
    const write = this.#announcementIndex.own(member, record);
    this.#announcements.set(member, record);
    return this.#write(write);
  }

  announcements(): AnnouncementRecord[] {
    return [...this.#announcements.values()].sort(compareAnnouncements);
  }

  // --- secrets ---------------------------------------------------------------------------

  secrets(): string[] {
    return this.#secrets.list();
  }

  async addSecret(secret: string): Promise<WriteResult> {
    checkSecret(secret);
    return this.#secretChange(this.#secrets.local('add', secret));
  }

  async retireSecret(secret: string): Promise<WriteResult> {
    return this.#secretChange(this.#secrets.local('retire', secret));
  }

  async #secretChange(change: SecretChange, book: RedisSecretBook = this.#secrets): Promise<WriteResult> {
    return this.#write(() => book.write(change));
  }

  // --- overlay keys --------------------------------------------------------------------------

  overlayKeys(): string[] {
    return this.#overlayKeys.list();
  }

  async addOverlayKey(key: string): Promise<WriteResult> {
    checkOverlayKey(key);
    return this.#secretChange(this.#overlayKeys.local('add', key), this.#overlayKeys);
  }

  async retireOverlayKey(key: string): Promise<WriteResult> {
    return this.#secretChange(this.#overlayKeys.local('retire', key), this.#overlayKeys);
  }

  // --- egress rules ------------------------------------------------------------------------

  egressRules(): string[] {
    return this.#egressRules.list();
  }

  async addEgressRule(rule: string): Promise<WriteResult> {
    checkEgressRule(rule);
    return this.#secretChange(this.#egressRules.local('add', rule), this.#egressRules);
  }

  async retireEgressRule(rule: string): Promise<WriteResult> {
    return this.#secretChange(this.#egressRules.local('retire', rule), this.#egressRules);
  }

  // --- nonce key ---------------------------------------------------------------------------

  async nonceKey(): Promise<Buffer> {
    // Once known, resync keeps it in line with the fleet's (and seeds Redis with it if Redis lost it).
    if (this.#nonceKey !== undefined) return this.#nonceKey;
    if (this.#state === 'up') {
      try {
        await this.#syncNonceKey();
        if (this.#nonceKey !== undefined) return this.#nonceKey;
      } catch (err) {
        this.#log.debug({ err: (err as Error).message }, 'nonce key not loaded');
      }
    }
    const key = randomBytes(32);
    if (this.#nonceKey !== undefined) return this.#nonceKey; // loaded meanwhile
    this.#nonceKey = key;
    this.#dirty = true;
    this.#log.warn('cluster store unreachable: using a provisional nonce key until it returns');
    this.safeEmit('nonceKey', key);
    return key;
  }

  cachedNonceKey(): Buffer | undefined {
    return this.#nonceKey;
  }

  // --- relayed address index -------------------------------------------------------------

  async claimRelayedAddress(address: RelayedAddress, relayId: string, ttlMs: number): Promise<WriteResult> {
    checkClaim(relayId, ttlMs);
    return this.#write(this.#addresses.claim(address, relayId, ttlMs));
  }

  async releaseRelayedAddress(address: RelayedAddress, relayId: string): Promise<WriteResult> {
    return this.#write(this.#addresses.release(address, relayId));
  }

  async ownerOfRelayedAddress(address: RelayedAddress): Promise<string | undefined> {
    if (this.#state === 'up') {
      try {
        return await this.#addresses.lookup(address);
      } catch (err) {
        this.#log.debug({ err: (err as Error).message }, 'address look-up failed; using the cache');
      }
    }
    return this.#addresses.cached(address);
  }

  cachedOwnerOfRelayedAddress(address: RelayedAddress): string | undefined {
    return this.#addresses.cached(address);
  }

  // --- internals ---------------------------------------------------------------------------

  #setState(state: ConnectionState): void {
    if (this.#state === state || this.#closed) return;
    this.#state = state;
    if (state === 'down') this.#log.warn('cluster store unreachable; serving the last known state');
    else this.#log.info('cluster store reachable');
    this.safeEmit('connection', state);
  }

  #onReady(): void {
    this.#setState('up');
    void this.#requestResync();
  }

  #tick(): void {
    if (this.#closed || this.#state !== 'up') return;
    if (this.#dirty) void this.#requestResync();
    else void this.refresh();
  }

  async #write(fn: () => Promise<unknown>): Promise<WriteResult> {
    if (this.#state !== 'up' || this.#closed) {
      this.#dirty = true;
      return 'queued';
    }
    try {
      await fn();
      return 'written';
    } catch (err) {
      this.#dirty = true;
      this.#log.debug({ err: (err as Error).message }, 'cluster store write queued');
      return 'queued';
    }
  }

  /** Runs `fn`; a failure marks the store dirty (resync later) instead of reaching the caller. */
  async #guard(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.#dirty = true;
      this.#log.debug({ err: (err as Error).message }, 'cluster store read failed');
    }
  }

  #requestResync(): Promise<void> {
    this.#resyncWanted = true;
    if (this.#resyncRunning === undefined) {
      this.#resyncRunning = this.#resyncLoop().finally(() => {
        this.#resyncRunning = undefined;
      });
    }
    return this.#resyncRunning;
  }

  async #resyncLoop(): Promise<void> {
    while (this.#resyncWanted && !this.#closed && this.#state === 'up') {
      this.#resyncWanted = false;
      this.#dirty = false;
      await this.#guard(() => this.#resyncOnce());
    }
  }

  /** Writes everything this process owns, then reloads the cache. */
  async #resyncOnce(): Promise<void> {
    // A new epoch means Redis lost its data (restart without persistence, failover to an
    // empty replica): seed the secrets again from what this process last knew.
    await this.#client.set(this.#keys.epoch, randomBytes(12).toString('base64url'), 'NX');
    const epoch = await this.#client.get(this.#keys.epoch);
    if (this.#epoch !== undefined && epoch !== this.#epoch) {
      const n = (await this.#secrets.seed()) + (await this.#overlayKeys.seed()) + (await this.#egressRules.seed());
      this.#log.info({ secrets: n }, 'cluster store lost its data: state written again');
    }
    this.#epoch = epoch ?? undefined;
    await this.#secrets.replay();
    await this.#overlayKeys.replay();
    await this.#egressRules.replay();
    await this.#registry.resync();
    await this.#announcementIndex.resync();
    await this.#addresses.resync();
    if (this.#nonceKey !== undefined) await this.#syncNonceKey();
    await this.#secrets.load(true);
    await this.#overlayKeys.load(true);
    await this.#egressRules.load(true);
    await this.refresh();
  }

  /** SET NX with the key this process holds (or a new one), then adopt whatever Redis has. */
  async #syncNonceKey(): Promise<void> {
    const candidate = this.#nonceKey ?? randomBytes(32);
    await this.#client.set(this.#keys.nonceKey, candidate.toString('base64'), 'NX');
    const stored = await this.#client.get(this.#keys.nonceKey);
    if (stored === null) throw new Error('nonce key vanished');
    const key = Buffer.from(stored, 'base64');
    if (this.#nonceKey === undefined || !key.equals(this.#nonceKey)) {
      this.#nonceKey = key;
      this.safeEmit('nonceKey', key);
    }
  }
}
