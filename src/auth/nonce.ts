import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock.js';

/**
 * Stateless, fleet-wide nonces (RFC 8489 §9.2): `<issue time, ms, base36>.<tag>`
 * where tag = base64url(HMAC-SHA256(key, issue time text))[first 16 bytes].
 * Any relay holding the same key accepts a nonce another relay minted; nothing is
 * stored per client. A nonce is 'stale' (438) once older than `ttlMs` (or dated
 * more than `ttlMs` in the future: a peer with a skewed clock), 'invalid' (401)
 * when its tag or format is wrong.
 *
 * After `setKey`, nonces made with the previous key stay acceptable until they go
 * stale, so a key change does not bounce every client at once.
 */
export type NonceCheck = 'ok' | 'stale' | 'invalid';

const TAG_BYTES = 16;
const TAG_CHARS = 22; // base64url of 16 bytes, unpadded
const MAX_NONCE_CHARS = 64;
const TIME = /^[0-9a-z]{1,10}$/; // 36^10 ms stays an exact double
const TAG = /^[A-Za-z0-9_-]{22}$/;
/** Distinct issue times whose tags are remembered (only times whose tag was computed: issued or verified). */
const TAG_CACHE_SIZE = 4096;

export class NonceService {
  #key: Buffer;
  #previousKey: Buffer | undefined;
  readonly #ttlMs: number;
  readonly #clock: Clock;
  /** The last nonce issued and its time text: a burst of 401s in one millisecond shares one HMAC. */
  #lastTime = '';
  #lastNonce = '';
  /** Tags of the current key by time text (a client reuses its nonce for every request); cleared on setKey. */
  readonly #tags = new Map<string, string>();

  constructor(opts: { key: Buffer; ttlMs: number; clock: Clock }) {
    this.#key = Buffer.from(opts.key);
    this.#ttlMs = opts.ttlMs;
    this.#clock = opts.clock;
  }

  /** A fresh nonce stamped with the clock's current time. */
  issue(): string {
    const time = Math.max(0, Math.floor(this.#clock.now())).toString(36);
    if (time !== this.#lastTime) {
      this.#lastNonce = `${time}.${this.#tagOf(time)}`;
      this.#lastTime = time;
    }
    return this.#lastNonce;
  }

  /** Never throws, whatever the input. */
  check(nonce: string): NonceCheck {
    if (typeof nonce !== 'string' || nonce.length > MAX_NONCE_CHARS) return 'invalid';
    const dot = nonce.indexOf('.');
    if (dot < 1) return 'invalid';
    const time = nonce.slice(0, dot);
    const tag = nonce.slice(dot + 1);
    if (!TIME.test(time) || tag.length !== TAG_CHARS || !TAG.test(tag)) return 'invalid';
    const known = this.#tags.get(time);
    if (known !== undefined ? !sameTag(known, tag) : !this.#verifyAndRemember(time, tag)) {
      if (this.#previousKey === undefined || !sameTag(tagOf(this.#previousKey, time), tag)) return 'invalid';
    }
    const age = this.#clock.now() - parseInt(time, 36);
    return age > this.#ttlMs || age < -this.#ttlMs ? 'stale' : 'ok';
  }

  /**
   * The fleet key and, after a setKey, the previous one (current first). Other fleet-wide secrets are derived
   * from it (the race group's key). The same Buffer objects until the next setKey.
   */
  keys(): readonly Buffer[] {
    return this.#previousKey === undefined ? [this.#key] : [this.#key, this.#previousKey];
  }

  /** Replaces the key (fleet key from the cluster store); the old one is kept for a grace period. */
  setKey(key: Buffer): void {
    if (key.equals(this.#key)) return;
    this.#previousKey = this.#key;
    this.#key = Buffer.from(key);
    this.#tags.clear();
    this.#lastTime = '';
  }

  /** tagOf(current key, time), remembered (up to TAG_CACHE_SIZE distinct times, then the cache starts over). */
  #tagOf(time: string): string {
    let tag = this.#tags.get(time);
    if (tag === undefined) {
      tag = tagOf(this.#key, time);
      this.#remember(time, tag);
    }
    return tag;
  }

  /** Checks a tag not in the cache against the current key; remembers it only when it matches (no junk cached). */
  #verifyAndRemember(time: string, given: string): boolean {
    const expected = tagOf(this.#key, time);
    if (!sameTag(expected, given)) return false;
    this.#remember(time, expected);
    return true;
  }

  #remember(time: string, tag: string): void {
    if (this.#tags.size >= TAG_CACHE_SIZE) this.#tags.clear(); // O(1); the tags still in use come back on first use
    this.#tags.set(time, tag);
  }
}

function tagOf(key: Buffer, time: string): string {
  return createHmac('sha256', key).update(time, 'latin1').digest().subarray(0, TAG_BYTES).toString('base64url');
}

function sameTag(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.from(given, 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}
