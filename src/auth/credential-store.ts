import { longTermKey } from './long-term.js';
import { restExpiry, restPassword } from './rest-credentials.js';

/**
 * Where the TURN server gets the long-term keys (MD5(user:realm:pass)) a request
 * may be signed with. Several keys mean "any of these": REST secret rotation.
 */
export interface CredentialStore {
  /** Every key `username` may use in `realm` at `nowMs`; empty = unknown or expired. */
  keysFor(username: string, realm: string, nowMs: number): Buffer[];
}

/** A static user: a password, or the long-term key itself (coturn's `user=NAME:0xKEY`, MD5(NAME:REALM:PASS)). */
export type StaticUserEntry = { name: string; password: string } | { name: string; key: Buffer };

/** Static long-term users (`--user NAME:PASS`, `NAME:0xKEY`): zero or one key. */
export class StaticUsers implements CredentialStore {
  #passwords = new Map<string, string>();
  #keys = new Map<string, Buffer>();
  /** Keys cached per user for the last realm asked (realms rarely change). */
  #cache = new Map<string, { realm: string; key: Buffer }>();

  constructor(users: readonly StaticUserEntry[]) {
    this.setUsers(users);
  }

  /** Replaces every user (reload); takes effect on the next request. */
  setUsers(users: readonly StaticUserEntry[]): void {
    const passwords = new Map<string, string>();
    const keys = new Map<string, Buffer>();
    for (const u of users) {
      if ('key' in u) keys.set(u.name, u.key);
      else passwords.set(u.name, u.password);
    }
    this.#passwords = passwords;
    this.#keys = keys;
    this.#cache = new Map();
  }

  get size(): number {
    return this.#passwords.size + this.#keys.size;
  }

  keysFor(username: string, realm: string, _nowMs: number): Buffer[] {
    const hashed = this.#keys.get(username);
    if (hashed !== undefined) return [hashed];
    const password = this.#passwords.get(username);
    if (password === undefined) return [];
    const cached = this.#cache.get(username);
    if (cached && cached.realm === realm) return [cached.key];
    const key = longTermKey(username, realm, password);
    this.#cache.set(username, { realm, key });
    return [key];
  }
}

/** Usernames whose REST keys are kept (a few hundred bytes each). */
const REST_KEY_CACHE_SIZE = 4096;

/**
 * TURN REST API shared secrets (`--auth-secret S`, coturn `static-auth-secret`):
 * one key per secret while the username's expiry lies in the future, none after.
 */
export class RestSecrets implements CredentialStore {
  #secrets: readonly string[];
  /**
   * Derived keys per "username NUL realm", for the current secrets only (cleared by setSecrets): a client signs
   * every request of its session with the same username, so the HMAC and MD5 run once per session, not per
   * request. Bounded by two generations (at most 2 × REST_KEY_CACHE_SIZE entries): when the young one is full
   * it becomes the old one and the previous old one is dropped; a hit in the old one moves the entry back to the
   * young one. O(1) per request (no Map iteration, which walks deleted slots).
   */
  #keys = new Map<string, Buffer[]>();
  #oldKeys = new Map<string, Buffer[]>();

  constructor(secrets: string[]) {
    this.#secrets = [...secrets];
  }

  /** Replaces the secrets (cluster-wide rotation); takes effect on the next request. */
  setSecrets(secrets: string[]): void {
    this.#secrets = [...secrets];
    this.#keys = new Map();
    this.#oldKeys = new Map();
  }

  get secrets(): readonly string[] {
    return this.#secrets;
  }

  keysFor(username: string, realm: string, nowMs: number): Buffer[] {
    if (this.#secrets.length === 0) return [];
    const expiry = restExpiry(username);
    // coturn: refused when expiry < now (in whole seconds).
    if (expiry === undefined || expiry < Math.floor(nowMs / 1000)) return [];
    const id = username + '\0' + realm;
    const young = this.#keys.get(id);
    if (young !== undefined) return young;
    const keys = this.#oldKeys.get(id) ?? this.#secrets.map((secret) => longTermKey(username, realm, restPassword(secret, username)));
    if (this.#keys.size >= REST_KEY_CACHE_SIZE) {
      this.#oldKeys = this.#keys;
      this.#keys = new Map();
    }
    this.#keys.set(id, keys);
    return keys;
  }
}

/** Several stores as one: the keys of all of them, static users first. */
export class Credentials implements CredentialStore {
  readonly #stores: readonly CredentialStore[];

  constructor(stores: CredentialStore[]) {
    this.#stores = [...stores];
  }

  keysFor(username: string, realm: string, nowMs: number): Buffer[] {
    if (this.#stores.length === 1) return this.#stores[0].keysFor(username, realm, nowMs);
    const keys: Buffer[] = [];
    for (const store of this.#stores) {
      for (const key of store.keysFor(username, realm, nowMs)) keys.push(key);
    }
    return keys;
  }
}
