/**
 * The relayed-address -> owning-relay index on Redis, for RedisClusterStore. This
 * process's own claims are kept locally (re-claimed with their remaining TTL after an
 * outage), releases made while Redis was away are replayed, and other relays' addresses
 * looked up are cached until their TTL (bounded).
 */
import type { Clock } from '../clock.js';
import type { ClusterKeys } from './keys.js';
import type { RedisClient } from './redis-connection.js';
import type { RelayedAddress } from './types.js';

const RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";
const LOOKUP_CACHE_MAX = 10_000;

export class RedisAddressIndex {
  readonly #claims = new Map<string, { relayId: string; expiresAt: number }>();
  readonly #pendingReleases = new Map<string, string>();
  readonly #lookups = new Map<string, { owner: string; expiresAt: number }>();

  constructor(
    private readonly client: RedisClient,
    private readonly keys: ClusterKeys,
    private readonly clock: Clock,
  ) {}

  /** Records the claim locally; returns the write to run. */
  claim(address: RelayedAddress, relayId: string, ttlMs: number): () => Promise<unknown> {
    const key = this.keys.relayedAddress(address);
    this.#claims.set(key, { relayId, expiresAt: this.clock.now() + ttlMs });
    this.#pendingReleases.delete(key);
    return () => this.client.set(key, relayId, 'PX', ttlMs);
  }

  release(address: RelayedAddress, relayId: string): () => Promise<unknown> {
    const key = this.keys.relayedAddress(address);
    if (this.#claims.get(key)?.relayId === relayId) this.#claims.delete(key);
    this.#lookups.delete(key);
    this.#pendingReleases.set(key, relayId);
    return async () => {
      await this.client.eval(RELEASE_IF_OWNER, 1, key, relayId);
      this.#pendingReleases.delete(key);
    };
  }

  /** From Redis (throws when it cannot be read). */
  async lookup(address: RelayedAddress): Promise<string | undefined> {
    const key = this.keys.relayedAddress(address);
    const r = await this.client.multi().get(key).pttl(key).exec();
    if (r === null || r.some(([err]) => err !== null)) throw new Error('address look-up failed');
    const owner = r[0][1] as string | null;
    const pttl = r[1][1] as number;
    if (owner === null) {
      this.#lookups.delete(key);
      return undefined;
    }
    if (this.#lookups.size >= LOOKUP_CACHE_MAX) this.#lookups.delete(this.#lookups.keys().next().value as string);
    this.#lookups.set(key, { owner, expiresAt: this.clock.now() + (pttl > 0 ? pttl : 0) });
    return owner;
  }

  cached(address: RelayedAddress): string | undefined {
    const key = this.keys.relayedAddress(address);
    const now = this.clock.now();
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

  /** Re-claims every live own claim with its remaining TTL and replays releases. */
  async resync(): Promise<void> {
    const now = this.clock.now();
    const m = this.client.multi();
    let n = 0;
    for (const [key, c] of this.#claims) {
      if (c.expiresAt <= now) this.#claims.delete(key);
      else {
        m.set(key, c.relayId, 'PX', c.expiresAt - now);
        n++;
      }
    }
    if (n > 0) await m.exec();
    for (const [key, relayId] of this.#pendingReleases) {
      await this.client.eval(RELEASE_IF_OWNER, 1, key, relayId);
      this.#pendingReleases.delete(key);
    }
  }
}
