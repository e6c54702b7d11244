/**
 * A rotating secret list on Redis (the REST secrets, and the overlay keys), for RedisClusterStore: a local copy (newest first) applied at
 * once, changes written with a version bump and a pub/sub notice, and a re-seed when
 * Redis lost its data. A change stays pending until Redis took it: pending changes are
 * replayed in order when Redis is back, and laid over every list loaded from Redis
 * meanwhile (a load racing a local change never undoes it).
 */
import type { Clock } from '../clock.js';
import type { RedisClient } from './redis-connection.js';

interface Secret {
  secret: string;
  addedAt: number;
}
type Op = 'add' | 'retire';
/** Where one list lives: its sorted set, its version counter and the pub/sub message announcing a change. */
export interface SecretListKeys {
  set: string;
  version: string;
  events: string;
  message: string;
}
export interface SecretChange {
  op: Op;
  entry: Secret;
}

export class RedisSecretBook {
  #list: Secret[] = [];
  #version: string | null | undefined;
  readonly #pending: SecretChange[] = [];

  constructor(
    private readonly client: RedisClient,
    private readonly keys: SecretListKeys,
    private readonly clock: Clock,
    private readonly onChange: (secrets: string[]) => void,
  ) {}

  list(): string[] {
    return this.#list.map((s) => s.secret);
  }

  /** Applies the change locally (notifying) and keeps it pending until write() succeeds. */
  local(op: Op, secret: string): SecretChange {
    let entry: Secret;
    if (op === 'add') {
      let addedAt = this.clock.now();
      for (const s of this.#list) if (s.addedAt >= addedAt) addedAt = s.addedAt + 1;
      entry = this.#list.find((s) => s.secret === secret) ?? { secret, addedAt };
    } else {
      entry = this.#list.find((s) => s.secret === secret) ?? { secret, addedAt: 0 };
    }
    const change = { op, entry };
    this.#pending.push(change);
    this.#set(applyChange(this.#list, change));
    return change;
  }

  async write(change: SecretChange): Promise<void> {
    const m = this.client.multi();
    if (change.op === 'add') m.zadd(this.keys.set, 'NX', change.entry.addedAt, change.entry.secret);
    else m.zrem(this.keys.set, change.entry.secret);
    const r = await m.incr(this.keys.version).publish(this.keys.events, this.keys.message).exec();
    if (r === null || r.some(([err]) => err !== null)) throw new Error('secret change not written');
    const i = this.#pending.indexOf(change);
    if (i >= 0) this.#pending.splice(i, 1);
  }

  /** Writes the pending changes, oldest first. */
  async replay(): Promise<void> {
    for (const change of [...this.#pending]) await this.write(change);
  }

  /** Redis lost its data: put back every secret this process knows. */
  async seed(): Promise<number> {
    if (this.#list.length === 0) return 0;
    const m = this.client.multi();
    for (const s of this.#list) m.zadd(this.keys.set, 'NX', s.addedAt, s.secret);
    await m.incr(this.keys.version).publish(this.keys.events, this.keys.message).exec();
    return this.#list.length;
  }

  /** Reloads when the version changed (or always, with `force`). */
  async load(force: boolean): Promise<void> {
    const version = await this.client.get(this.keys.version);
    if (!force && version === this.#version) return;
    const flat = await this.client.zrevrange(this.keys.set, 0, -1, 'WITHSCORES');
    const list: Secret[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) list.push({ secret: flat[i], addedAt: Number(flat[i + 1]) });
    // Never seen a version and Redis holds none: data lost, the next resync seeds it again.
    if (version === null && list.length === 0 && this.#list.length > 0) return;
    this.#version = version;
    this.#set(this.#pending.reduce(applyChange, list));
  }

  #set(list: Secret[]): void {
    const before = this.list();
    this.#list = list;
    const after = this.list();
    if (before.length !== after.length || before.some((s, i) => s !== after[i])) this.onChange(after);
  }
}

function applyChange(list: Secret[], change: SecretChange): Secret[] {
  const rest = list.filter((s) => s.secret !== change.entry.secret);
  if (change.op === 'retire') return rest;
  return [...rest, change.entry].sort((a, b) => b.addedAt - a.addedAt || (a.secret < b.secret ? -1 : 1));
}
