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
import { ClusterKeys } from './keys.js';
import { RedisAddressIndex } from './redis-address-index.js';
import { decodeAnnouncementRecord, decodeRelayRecord } from './redis-codec.js';
import { createRedisClient, type RedisClient } from './redis-connection.js';
import { RedisSecretBook, type SecretChange } from './redis-secrets.js';
import { parseRedisUrl, redactRedisUrl } from './redis-url.js';
import { checkId, checkSecret, checkTtl, compareRelays, type ClusterStore } from './store.js';
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
  readonly #addresses: RedisAddressIndex;
  /** The Redis data epoch this process last saw. */
  #epoch: string | undefined;
  #nonceKey: Buffer | undefined;
  readonly #ownRelays = new Map<string, RelayRecord>();
  readonly #ownAnnouncements = new Map<string, AnnouncementRecord>();

  constructor(opts: RedisClusterStoreOptions) {
    super();
    const target = parseRedisUrl(opts.url);
    this.#keys = new ClusterKeys(opts.keyPrefix);
    this.#log = opts.log.child({ component: 'cluster-store', redis: redactRedisUrl(opts.url) });
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
    this.#secrets = new RedisSecretBook(this.#client, this.#keys, this.#clock, (list) => this.safeEmit('secrets', list));
    this.#addresses = new RedisAddressIndex(this.#client, this.#keys, this.#clock);
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
    checkId('relay id', relay.id);
    checkId('PoP name', relay.pop);
    checkTtl(ttlMs);
    const record: RelayRecord = { ...relay, addresses: relay.addresses.map((a) => ({ ...a })), updatedAt: this.#clock.now(), ttlMs };
    this.#ownRelays.set(record.id, record);
    this.#relays.set(record.id, record);
    return this.#write(() => this.#writeRelay(record));
  }

  async deregister(relayId: string): Promise<WriteResult> {
    this.#ownRelays.delete(relayId);
    this.#relays.delete(relayId);
    return this.#write(() => this.#client.multi().del(this.#keys.relay(relayId)).zrem(this.#keys.relayIndex, relayId).exec());
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
        this.#loadIndexed(this.#keys.relayIndex, (id) => this.#keys.relay(id), decodeRelayRecord),
        this.#loadIndexed(this.#keys.announcementIndex, (m) => this.#keys.announcement(m), decodeAnnouncementRecord),
        this.#secrets.load(false),
      ]);
      // Own records are always known locally, even when their last write was lost.
      const now = this.#clock.now();
      for (const own of this.#ownRelays.values()) {
        if (!relays.has(own.id) && own.updatedAt + own.ttlMs > now) relays.set(own.id, own);
      }
      this.#relays = relays;
      this.#announcements = new Map([...announcements.values()].map((a) => [`${a.pop}/${a.agent}`, a]));
      this.safeEmit('registry', this.relays());
    });
  }

  // --- announcements -----------------------------------------------------------------

  async publishAnnouncement(a: AnnouncementInput, ttlMs: number): Promise<WriteResult> {
    checkId('PoP name', a.pop);
    checkId('agent id', a.agent);
    checkTtl(ttlMs);
    const record: AnnouncementRecord = { ...a, prefixes: [...a.prefixes], updatedAt: this.#clock.now(), ttlMs };
    const member = this.#keys.announcementMember(a.pop, a.agent);
    this.#ownAnnouncements.set(member, record);
    this.#announcements.set(member, record);
    return this.#write(() => this.#writeAnnouncement(member, record));
  }

  announcements(): AnnouncementRecord[] {
    return [...this.#announcements.values()].sort((a, b) =>
      a.pop !== b.pop ? (a.pop < b.pop ? -1 : 1) : a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0,
    );
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

  async #secretChange(change: SecretChange): Promise<WriteResult> {
    return this.#write(() => this.#secrets.write(change));
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
    checkId('relay id', relayId);
    checkTtl(ttlMs);
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
      const n = await this.#secrets.seed();
      this.#log.info({ secrets: n }, 'cluster store lost its data: state written again');
    }
    this.#epoch = epoch ?? undefined;
    await this.#secrets.replay();
    const now = this.#clock.now();
    for (const [id, record] of this.#ownRelays) {
      if (record.updatedAt + record.ttlMs <= now) this.#ownRelays.delete(id); // its heartbeats stopped
      else await this.#writeRelay(record);
    }
    for (const [member, record] of this.#ownAnnouncements) {
      if (record.updatedAt + record.ttlMs <= now) this.#ownAnnouncements.delete(member);
      else await this.#writeAnnouncement(member, record);
    }
    await this.#addresses.resync();
    if (this.#nonceKey !== undefined) await this.#syncNonceKey();
    await this.#secrets.load(true);
    await this.refresh();
  }

  async #writeRelay(record: RelayRecord): Promise<void> {
    await this.#writeExpiring(this.#keys.relay(record.id), this.#keys.relayIndex, record.id, record);
  }

  async #writeAnnouncement(member: string, record: AnnouncementRecord): Promise<void> {
    await this.#writeExpiring(this.#keys.announcement(member), this.#keys.announcementIndex, member, record);
  }

  /** The record with what is left of its TTL (a record that already expired is not written back). */
  async #writeExpiring(key: string, index: string, member: string, record: { updatedAt: number; ttlMs: number }): Promise<void> {
    const expiresAt = record.updatedAt + record.ttlMs;
    const left = expiresAt - this.#clock.now();
    if (left <= 0) return;
    const r = await this.#client.multi().set(key, JSON.stringify(record), 'PX', left).zadd(index, expiresAt, member).exec();
    if (r === null || r.some(([err]) => err !== null)) throw new Error(`write of ${key} failed`);
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

  /** Records of an index; index entries whose record expired are dropped. */
  async #loadIndexed<T>(
    index: string,
    keyOf: (member: string) => string,
    decode: (text: string | null) => T | undefined,
  ): Promise<Map<string, T>> {
    const flat = await this.#client.zrange(index, 0, -1, 'WITHSCORES');
    const out = new Map<string, T>();
    if (flat.length === 0) return out;
    const members: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      members.push(flat[i]);
      scores.push(Number(flat[i + 1]));
    }
    const values = await this.#client.mget(members.map(keyOf));
    const now = this.#clock.now();
    const gone: string[] = [];
    members.forEach((m, i) => {
      const v = decode(values[i]);
      if (v !== undefined) out.set(m, v);
      else if (values[i] === null && scores[i] < now) gone.push(m);
    });
    if (gone.length > 0) await this.#client.zrem(index, ...gone);
    return out;
  }
}
