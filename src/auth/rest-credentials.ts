import { createHmac } from 'node:crypto';

/**
 * TURN REST API ephemeral credentials, compatible with coturn's
 * `use-auth-secret` / `static-auth-secret` (draft-uberti-behave-turn-rest):
 *
 *   username   = "<unix expiry seconds>" or "<unix expiry seconds>:<user>"
 *   credential = base64(HMAC-SHA1(secret, username))
 *
 * A relay holding the same secret derives the same password from the username
 * alone, so nothing needs to be stored per user.
 */
export interface RestCredentials {
  username: string;
  credential: string;
  ttl: number;
}

/** The password a REST username has under one shared secret. */
export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
}

/** Mints credentials valid for `ttlSeconds` from `nowMs`. */
export function restCredentials(
  secret: string,
  opts: { user?: string; ttlSeconds: number; nowMs: number },
): RestCredentials {
  const expiry = Math.floor(opts.nowMs / 1000) + opts.ttlSeconds;
  const username = opts.user === undefined || opts.user === '' ? `${expiry}` : `${expiry}:${opts.user}`;
  return { username, credential: restPassword(secret, username), ttl: opts.ttlSeconds };
}

const DIGITS = /^[0-9]{1,15}$/;

/**
 * The expiry (unix seconds) a REST username carries, or undefined when it has none.
 * Like coturn: "expiry[:user]"; when the part before the first colon is not a
 * number, coturn also accepts "user:expiry", and so do we.
 */
export function restExpiry(username: string): number | undefined {
  const colon = username.indexOf(':');
  if (colon < 0) return DIGITS.test(username) ? Number(username) : undefined;
  const head = username.slice(0, colon);
  if (DIGITS.test(head)) return Number(head);
  const tail = username.slice(username.lastIndexOf(':') + 1);
  return DIGITS.test(tail) ? Number(tail) : undefined;
}
