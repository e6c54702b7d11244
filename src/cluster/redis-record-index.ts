/**
 * An index of expiring JSON records on Redis, for RedisClusterStore: the relay registry
 * and the router agents' announcements (see keys.ts). Each record is a STRING whose PX is
 * what is left of its TTL, listed in a ZSET index (member -> expiry, writer's clock).
 * This process's own records are kept locally and written again with their remaining TTL
 * after an outage, until they expire (their heartbeats stopped).
 */
import type { Clock } from '../clock.js';
import type { RedisClient } from './redis-connection.js';

/** Where one kind of record lives and how what others wrote is read back. */
export interface RecordIndexLayout<T> {
  /** The ZSET key. */
  index: string;
  /** The record's STRING key for an index member. */
  keyOf(member: string): string;
  /** Untrusted text -> record; undefined when absent or malformed. */
  decode(text: string | null): T | undefined;
}

interface ExpiringRecord {
  updatedAt: number;
  ttlMs: number;
}

export class RedisRecordIndex<T extends ExpiringRecord> {
  readonly #own = new Map<string, T>();

  constructor(
    private readonly client: RedisClient,
    private readonly clock: Clock,
    private readonly layout: RecordIndexLayout<T>,
  ) {}

  /** Keeps `record` as this process's own; returns the write to run. */
  own(member: string, record: T): () => Promise<void> {
    this.#own.set(member, record);
    return () => this.#write(member, record);
  }

  /** Stops keeping the member's record; returns the delete to run. */
  disown(member: string): () => Promise<unknown> {
    this.#own.delete(member);
    return () => this.client.multi().del(this.layout.keyOf(member)).zrem(this.layout.index, member).exec();
  }

  /** This process's own records that have not expired. */
  *ownLive(): IterableIterator<[member: string, record: T]> {
    const now = this.clock.now();
    for (const entry of this.#own) if (entry[1].updatedAt + entry[1].ttlMs > now) yield entry;
  }

  /** Writes every live own record again; forgets the expired ones. */
  async resync(): Promise<void> {
    const now = this.clock.now();
    for (const [member, record] of this.#own) {
      if (record.updatedAt + record.ttlMs <= now) this.#own.delete(member);
      else await this.#write(member, record);
    }
  }

  /** The records of the index; index entries whose record expired are dropped. */
  async load(): Promise<Map<string, T>> {
    const { index } = this.layout;
    const flat = await this.client.zrange(index, 0, -1, 'WITHSCORES');
    const out = new Map<string, T>();
    if (flat.length === 0) return out;
    const members: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      members.push(flat[i]);
      scores.push(Number(flat[i + 1]));
    }
    const values = await this.client.mget(members.map((m) => this.layout.keyOf(m)));
    const now = this.clock.now();
    const gone: string[] = [];
    members.forEach((m, i) => {
      const v = this.layout.decode(values[i]);
      if (v !== undefined) out.set(m, v);
      else if (values[i] === null && scores[i] < now) gone.push(m);
    });
    if (gone.length > 0) await this.client.zrem(index, ...gone);
    return out;
  }

  /** The record with what is left of its TTL (a record that already expired is not written back). */
  async #write(member: string, record: T): Promise<void> {
    const key = this.layout.keyOf(member);
    const expiresAt = record.updatedAt + record.ttlMs;
    const left = expiresAt - this.clock.now();
    if (left <= 0) return;
    const r = await this.client
      .multi()
      .set(key, JSON.stringify(record), 'PX', left)
      .zadd(this.layout.index, expiresAt, member)
      .exec();
    if (r === null || r.some(([err]) => err !== null)) throw new Error(`write of ${key} failed`);
  }
}
