/**
 * Which allocations' packets go over every overlay path (US 2025/0267097's duplication of latency-critical
 * packets), from `overlay-duplicate`: '*' is everyone, any other entry a user name. A TURN REST username
 * (`<expiry>:<user>`) matches by its user part. Default (empty list): nobody; one path at a time.
 */
import { tenantOf } from '../turn/egress.js';

export class DuplicationPolicy {
  readonly #all: boolean;
  readonly #users: ReadonlySet<string>;

  constructor(entries: readonly string[]) {
    this.#all = entries.includes('*');
    this.#users = new Set(entries.filter((e) => e !== '*'));
  }

  get enabled(): boolean {
    return this.#all || this.#users.size > 0;
  }

  duplicates(username: string): boolean {
    if (this.#all) return true;
    if (this.#users.size === 0) return false;
    return this.#users.has(username) || this.#users.has(tenantOf(username));
  }
}
