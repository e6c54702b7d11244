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
import { ClusterKeys, relayedAddressText } from './keys.js';
import { decodeAnnouncementRecord, decodeRelayRecord } from './redis-codec.js';
import { createRedisClient, type RedisClient } from './redis-connection.js';
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
  log: Logger;
  clock?: Clock;
}

const RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
const LOOKUP_CACHE_MAX = 10_000;

interface Secret {
  secret: string;
  addedAt: number;
}
interface Claim {
  relayId: string;
  address: RelayedAddress;
  expiresAt: number;
}

export class RedisClusterStore extends TypedEmitter<ClusterStoreEvents> implements ClusterStore {
  readonly kind = 'redis' as const;
  readonly #keys: ClusterKeys;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #client: RedisClient;
  readonly #sub: RedisClient;
  readonly #refreshIntervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #state: ConnectionState = 'down';
  #closed = false;
  /** Something could not be written: resync on the next tick. */
  #dirty = false;
  #resyncWanted = false;
  #resyncRunning: Promise<void> | undefined;

  #relays = new Map<string, RelayRecord>();
  #announcements = new Map<string, AnnouncementRecord>();
  #secrets: Secret[] = [];
  #secretsVersion: string | null | undefined;
  /** The Redis data epoch this process last saw. */
  #epoch: string | undefined;
  #nonceKey: Buffer | undefined;
  readonly #ownRelays = new Map<string, RelayRecord>();
  readonly #ownAnnouncements = new Map<string, AnnouncementRecord>();
  readonly #pendingSecretOps: { op: 'add' | 'retire'; secret: Secret }[] = [];
  readonly #claims = new Map<string, Claim>();
  readonly #pendingReleases = new Map<string, string>();
  readonly #lookups = new Map<string, { owner: string; expiresAt: number }>();

  constructor(opts: RedisClusterStoreOptions) {
    super();
    const target = parseRedisUrl(opts.url);
    this.#keys = new ClusterKeys(opts.keyPrefix);
    this.#log = opts.log.child({ component: 'cluster-store', redis: redactRedisUrl(opts.url) });
    this.#clock = opts.clock ?? systemClock;
    this.#refreshIntervalMs = opts.refreshIntervalMs ?? 1000;
    const conn = {
      commandTimeoutMs: opts.commandTimeoutMs ?? 1000,
      connectTimeoutMs: 2000,
      reconnectMaxDelayMs: opts.reconnectMaxDelayMs ?? 2000,
    };
    this.#client = createRedisClient(target, conn);
    this.#sub = createRedisClient(target, conn);
    this.#client.on('ready', () => this.#onReady());
    this.#client.on('close', () => this.#setState('down'));
    this.#client.on('end', () => this.#setState('down'));
    this.#client.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis error'));
    this.#sub.on('error', (err: Error) => this.#log.debug({ err: err.message }, 'redis subscriber error'));
    this.#sub.on('ready', () => {
      this.#sub.subscribe(this.#keys.events).catch(() => undefined);
    });
    this.#sub.on('message', (_channel: string, message: string) => {
      if (message === 'secrets') void this.#guard(() => this.#loadSecrets(true));
    });
  }

  async start(): Promise<void> {
    if (this.#closed) return;
    this.#timer = setInterval(() => this.#tick(), this.#refreshIntervalMs);
    this.#timer.unref();
    this.#sub.connect().catch(() => undefined);
    try {
      await this.#client.connect();
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'cluster store unreachable at start; retrying in the background');
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
        this.#loadSecrets(false),
      ]);
      // Own records are always known locally, even when their last write was lost.
      for (const own of this.#ownRelays.values()) if (!relays.has(own.id)) relays.set(own.id, own);
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
    return this.#secrets.map((s) => s.secret);
  }

  async addSecret(secret: string): Promise<WriteResult> {
    checkSecret(secret);
    let addedAt = this.#clock.now();
    for (const s of this.#secrets) if (s.addedAt >= addedAt) addedAt = s.addedAt + 1;
    const entry = { secret, addedAt };
    if (!this.#secrets.some((s) => s.secret === secret)) this.#setSecrets([entry, ...this.#secrets]);
    return this.#secretOp('add', entry);
  }

  async retireSecret(secret: string): Promise<WriteResult> {
    const entry = this.#secrets.find((s) => s.secret === secret) ?? { secret, addedAt: 0 };
    this.#setSecrets(this.#secrets.filter((s) => s.secret !== secret));
    return this.#secretOp('retire', entry);
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
    const key = this.#keys.relayedAddress(address);
    this.#claims.set(key, { relayId, address: { ...address }, expiresAt: this.#clock.now() + ttlMs });
    this.#pendingReleases.delete(key);
    return this.#write(() => this.#client.set(key, relayId, 'PX', ttlMs));
  }

  async releaseRelayedAddress(address: RelayedAddress, relayId: string): Promise<WriteResult> {
    const key = this.#keys.relayedAddress(address);
    if (this.#claims.get(key)?.relayId === relayId) this.#claims.delete(key);
    this.#lookups.delete(key);
    this.#pendingReleases.set(key, relayId);
    return this.#write(async () => {
      await this.#client.eval(RELEASE_IF_OWNER, 1, key, relayId);
      this.#pendingReleases.delete(key);
    });
  }

  async ownerOfRelayedAddress(address: RelayedAddress): Promise<string | undefined> {
    if (this.#state === 'up') {
      const key = this.#keys.relayedAddress(address);
      try {
        const r = await this.#client.multi().get(key).pttl(key).exec();
        const owner = r?.[0]?.[1] as string | null | undefined;
        const pttl = r?.[1]?.[1] as number | undefined;
        if (owner === null || owner === undefined) {
          this.#lookups.delete(key);
          return undefined;
        }
        if (this.#lookups.size >= LOOKUP_CACHE_MAX) this.#lookups.delete(this.#lookups.keys().next().value as string);
        this.#lookups.set(key, { owner, expiresAt: this.#clock.now() + (pttl !== undefined && pttl > 0 ? pttl : 0) });
        return owner;
      } catch (err) {
        this.#log.debug({ err: (err as Error).message }, 'address look-up failed; using the cache');
      }
    }
    return this.cachedOwnerOfRelayedAddress(address);
  }

  cachedOwnerOfRelayedAddress(address: RelayedAddress): string | undefined {
    const key = this.#keys.relayedAddress(address);
    const now = this.#clock.now();
    const claim = this.#claims.get(key);
    if (claim !== undefined) {
      if (claim.expiresAt > now) return claim.relayId;
      this.#claims.delete(key);
    }
    const seen = this.#lookups.get(key);
    if (seen !== undefined) {
      if (seen.expiresAt > now) return seen.owner;
      this.#lookups.delete(key);
    }
    return undefined;
  }

  /** Text form of an address as the index stores it (for logs). */
  static addressText(address: RelayedAddress): string {
    return relayedAddressText(address);
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
    if (this.#epoch !== undefined && epoch !== this.#epoch && this.#secrets.length > 0) {
      const m = this.#client.multi();
      for (const s of this.#secrets) m.zadd(this.#keys.secrets, 'NX', s.addedAt, s.secret);
      await m.incr(this.#keys.secretsVersion).publish(this.#keys.events, 'secrets').exec();
      this.#log.info({ secrets: this.#secrets.length }, 'cluster store lost its data: secrets seeded again');
    }
    this.#epoch = epoch ?? undefined;
    while (this.#pendingSecretOps.length > 0) {
      const { op, secret } = this.#pendingSecretOps[0];
      await this.#writeSecretOp(op, secret);
      this.#pendingSecretOps.shift();
    }
    for (const record of this.#ownRelays.values()) await this.#writeRelay(record);
    for (const [member, record] of this.#ownAnnouncements) await this.#writeAnnouncement(member, record);
    const now = this.#clock.now();
    const claims = this.#client.multi();
    let n = 0;
    for (const [key, c] of this.#claims) {
      if (c.expiresAt <= now) this.#claims.delete(key);
      else {
        claims.set(key, c.relayId, 'PX', c.expiresAt - now);
        n++;
      }
    }
    if (n > 0) await claims.exec();
    for (const [key, relayId] of this.#pendingReleases) {
      await this.#client.eval(RELEASE_IF_OWNER, 1, key, relayId);
      this.#pendingReleases.delete(key);
    }
    if (this.#nonceKey !== undefined) await this.#syncNonceKey();
    await this.#loadSecrets(true);
    await this.refresh();
  }

  async #writeRelay(record: RelayRecord): Promise<void> {
    await this.#client
      .multi()
      .set(this.#keys.relay(record.id), JSON.stringify(record), 'PX', record.ttlMs)
      .zadd(this.#keys.relayIndex, record.updatedAt + record.ttlMs, record.id)
      .exec();
  }

  async #writeAnnouncement(member: string, record: AnnouncementRecord): Promise<void> {
    await this.#client
      .multi()
      .set(this.#keys.announcement(member), JSON.stringify(record), 'PX', record.ttlMs)
      .zadd(this.#keys.announcementIndex, record.updatedAt + record.ttlMs, member)
      .exec();
  }

  async #secretOp(op: 'add' | 'retire', secret: Secret): Promise<WriteResult> {
    const result = await this.#write(() => this.#writeSecretOp(op, secret));
    if (result === 'queued') this.#pendingSecretOps.push({ op, secret });
    return result;
  }

  async #writeSecretOp(op: 'add' | 'retire', s: Secret): Promise<void> {
    const m = this.#client.multi();
    if (op === 'add') m.zadd(this.#keys.secrets, 'NX', s.addedAt, s.secret);
    else m.zrem(this.#keys.secrets, s.secret);
    const r = await m.incr(this.#keys.secretsVersion).publish(this.#keys.events, 'secrets').exec();
    this.#secretsVersion = String(r?.[1]?.[1] ?? this.#secretsVersion);
  }

  /** Reloads the secrets when their version changed (or always, with `force`). */
  async #loadSecrets(force: boolean): Promise<void> {
    const version = await this.#client.get(this.#keys.secretsVersion);
    if (!force && version === this.#secretsVersion) return;
    const flat = await this.#client.zrevrange(this.#keys.secrets, 0, -1, 'WITHSCORES');
    const list: Secret[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) list.push({ secret: flat[i], addedAt: Number(flat[i + 1]) });
    if (version === null && list.length === 0 && this.#secrets.length > 0) return; // data lost: resync seeds it
    this.#secretsVersion = version;
    this.#setSecrets(list);
  }

  #setSecrets(list: Secret[]): void {
    const before = this.secrets();
    this.#secrets = list;
    const after = this.secrets();
    if (before.length !== after.length || before.some((s, i) => s !== after[i])) this.safeEmit('secrets', after);
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
