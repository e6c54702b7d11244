/**
 * REST secrets on Redis, for RedisClusterStore: a local copy (newest first) applied at
 * once, changes written with a version bump and a pub/sub notice, changes made while
 * Redis was unreachable replayed in order, and a re-seed when Redis lost its data.
 */
import type { Clock } from '../clock.js';
import type { ClusterKeys } from './keys.js';
import type { RedisClient } from './redis-connection.js';

interface Secret {
  secret: string;
  addedAt: number;
}
type Op = 'add' | 'retire';

export class RedisSecretBook {
  #list: Secret[] = [];
  #version: string | null | undefined;
  readonly #pending: { op: Op; entry: Secret }[] = [];

  constructor(
    private readonly client: RedisClient,
    private readonly keys: ClusterKeys,
    private readonly clock: Clock,
    private readonly onChange: (secrets: string[]) => void,
  ) {}

  list(): string[] {
    return this.#list.map((s) => s.secret);
  }

  /** Applies the change locally (notifying) and returns what to write. */
  local(op: Op, secret: string): { op: Op; entry: Secret } {
    if (op === 'add') {
      let addedAt = this.clock.now();
      for (const s of this.#list) if (s.addedAt >= addedAt) addedAt = s.addedAt + 1;
      const entry = { secret, addedAt };
      if (!this.#list.some((s) => s.secret === secret)) this.#set([entry, ...this.#list]);
      return { op, entry };
    }
    const entry = this.#list.find((s) => s.secret === secret) ?? { secret, addedAt: 0 };
    this.#set(this.#list.filter((s) => s.secret !== secret));
    return { op, entry };
  }

  /** Remembers a change Redis did not take, for replay(). */
  queue(change: { op: Op; entry: Secret }): void {
    this.#pending.push(change);
  }

  async write(change: { op: Op; entry: Secret }): Promise<void> {
    const m = this.client.multi();
    if (change.op === 'add') m.zadd(this.keys.secrets, 'NX', change.entry.addedAt, change.entry.secret);
    else m.zrem(this.keys.secrets, change.entry.secret);
    const r = await m.incr(this.keys.secretsVersion).publish(this.keys.events, 'secrets').exec();
    const version = r?.[1]?.[1];
    if (version !== undefined && version !== null) this.#version = String(version);
  }

  /** Writes the queued changes, oldest first. */
  async replay(): Promise<void> {
    while (this.#pending.length > 0) {
      await this.write(this.#pending[0]);
      this.#pending.shift();
    }
  }

  /** Redis lost its data: put back every secret this process knows. */
  async seed(): Promise<number> {
    if (this.#list.length === 0) return 0;
    const m = this.client.multi();
    for (const s of this.#list) m.zadd(this.keys.secrets, 'NX', s.addedAt, s.secret);
    await m.incr(this.keys.secretsVersion).publish(this.keys.events, 'secrets').exec();
    return this.#list.length;
  }

  /** Reloads when the version changed (or always, with `force`). */
  async load(force: boolean): Promise<void> {
    const version = await this.client.get(this.keys.secretsVersion);
    if (!force && version === this.#version) return;
    const flat = await this.client.zrevrange(this.keys.secrets, 0, -1, 'WITHSCORES');
    const list: Secret[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) list.push({ secret: flat[i], addedAt: Number(flat[i + 1]) });
    // Never seen a version and Redis holds none: data lost, the next resync seeds it again.
    if (version === null && list.length === 0 && this.#list.length > 0) return;
    this.#version = version;
    this.#set(list);
  }

  #set(list: Secret[]): void {
    const before = this.list();
    this.#list = list;
    const after = this.list();
    if (before.length !== after.length || before.some((s, i) => s !== after[i])) this.onChange(after);
  }
}
