/**
 * The ONLY place Redis keys and channels are built.
 *
 * Every key carries the hash tag `{<prefix>}` so the whole cluster state sits in one
 * Redis Cluster slot: multi-key commands (MGET, MULTI) and pub/sub work the same on a
 * single server, behind Sentinel, or on a Redis Cluster. The state is small.
 *
 *   {anyturn}:relays              ZSET  relay id -> expiry (ms, writer's clock); index of relay records
 *   {anyturn}:relay:<id>          STRING JSON RelayRecord, PX = TTL
 *   {anyturn}:announces           ZSET  "<pop>/<agent>" -> expiry; index of announcement records
 *   {anyturn}:announce:<pop>/<agent> STRING JSON AnnouncementRecord, PX = TTL
 *   {anyturn}:secrets             ZSET  secret -> time added (ms)
 *   {anyturn}:secrets:version     STRING counter, INCR on every change
 *   {anyturn}:overlay-keys        ZSET  overlay key -> time added (ms)
 *   {anyturn}:overlay-keys:version STRING counter, INCR on every change
 *   {anyturn}:egress             ZSET  tenant=uplink rule -> time added (ms)
 *   {anyturn}:egress:version     STRING counter, INCR on every change
 *   {anyturn}:nonce-key           STRING base64 key, created once with SET NX
 *   {anyturn}:addr:<ip>:<port>    STRING owning relay id, PX = TTL (IPv6 as [ip]:port)
 *   {anyturn}:epoch               STRING random, SET NX: changes when Redis lost its data
 *   {anyturn}:events              pub/sub channel ('secrets', 'overlay-keys', 'egress')
 */
import type { RelayedAddress } from './types.js';

export const DEFAULT_KEY_PREFIX = 'anyturn';

const PREFIX = /^[A-Za-z0-9_.-]{1,64}$/;

export class ClusterKeys {
  readonly #base: string;

  constructor(prefix: string = DEFAULT_KEY_PREFIX) {
    if (!PREFIX.test(prefix)) throw new RangeError(`cluster key prefix must match ${PREFIX}, got '${prefix}'`);
    this.#base = `{${prefix}}:`;
  }

  get relayIndex(): string {
    return `${this.#base}relays`;
  }

  relay(id: string): string {
    return `${this.#base}relay:${id}`;
  }

  get announcementIndex(): string {
    return `${this.#base}announces`;
  }

  /** Member of the announcement index. */
  announcementMember(pop: string, agent: string): string {
    return announcementMember(pop, agent);
  }

  announcement(member: string): string {
    return `${this.#base}announce:${member}`;
  }

  get secrets(): string {
    return `${this.#base}secrets`;
  }

  get secretsVersion(): string {
    return `${this.#base}secrets:version`;
  }

  get overlayKeys(): string {
    return `${this.#base}overlay-keys`;
  }

  get overlayKeysVersion(): string {
    return `${this.#base}overlay-keys:version`;
  }

  get egressRules(): string {
    return `${this.#base}egress`;
  }

  get egressRulesVersion(): string {
    return `${this.#base}egress:version`;
  }

  get epoch(): string {
    return `${this.#base}epoch`;
  }

  get nonceKey(): string {
    return `${this.#base}nonce-key`;
  }

  relayedAddress(a: RelayedAddress): string {
    return `${this.#base}addr:${relayedAddressText(a)}`;
  }

  get events(): string {
    return `${this.#base}events`;
  }
}

/** `<pop>/<agent>`: one router agent's announcement (also the memory store's map key). */
export function announcementMember(pop: string, agent: string): string {
  return `${pop}/${agent}`;
}

/** `192.0.2.1:49152` or `[2001:db8::1]:49152` (also the memory store's map key). */
export function relayedAddressText(a: RelayedAddress): string {
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
