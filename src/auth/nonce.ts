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

export class NonceService {
  #key: Buffer;
  #previousKey: Buffer | undefined;
  readonly #ttlMs: number;
  readonly #clock: Clock;

  constructor(opts: { key: Buffer; ttlMs: number; clock: Clock }) {
    this.#key = Buffer.from(opts.key);
    this.#ttlMs = opts.ttlMs;
    this.#clock = opts.clock;
  }

  /** A fresh nonce stamped with the clock's current time. */
  issue(): string {
    const time = Math.max(0, Math.floor(this.#clock.now())).toString(36);
    return `${time}.${tagOf(this.#key, time)}`;
  }

  /** Never throws, whatever the input. */
  check(nonce: string): NonceCheck {
    if (typeof nonce !== 'string' || nonce.length > MAX_NONCE_CHARS) return 'invalid';
    const dot = nonce.indexOf('.');
    if (dot < 1) return 'invalid';
    const time = nonce.slice(0, dot);
    const tag = nonce.slice(dot + 1);
    if (!TIME.test(time) || tag.length !== TAG_CHARS || !TAG.test(tag)) return 'invalid';
    if (!sameTag(tagOf(this.#key, time), tag)) {
      if (this.#previousKey === undefined || !sameTag(tagOf(this.#previousKey, time), tag)) return 'invalid';
    }
    const age = this.#clock.now() - parseInt(time, 36);
    return age > this.#ttlMs || age < -this.#ttlMs ? 'stale' : 'ok';
  }

  /** Replaces the key (fleet key from the cluster store); the old one is kept for a grace period. */
  setKey(key: Buffer): void {
    if (key.equals(this.#key)) return;
    this.#previousKey = this.#key;
    this.#key = Buffer.from(key);
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
