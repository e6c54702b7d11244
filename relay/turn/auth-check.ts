/**
 * Long-term credential check of a request (RFC 8489 §9.2.4, as TURN uses it: RFC 8656 §5).
 *
 *  - no MESSAGE-INTEGRITY(-SHA256)                  → 401 (dispatch adds REALM and a fresh NONCE)
 *  - integrity but no USERNAME, REALM or NONCE      → 400
 *  - NONCE stale, or not one of the fleet's         → 438 (with a fresh NONCE). An 'invalid' nonce is answered
 *    like a stale one: after a fleet key rotation a client then retries once instead of failing.
 *  - REALM not ours, unknown user, no key verifies   → 401
 *
 * CredentialStore.keysFor may return several keys (REST secrets in rotation): any one that verifies is accepted
 * and is the key that signs the response, with the same integrity kind (SHA1 or SHA256) as the request.
 */
import { AnyturnError, ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import type { CredentialStore } from '../../src/auth/credential-store.js';
import type { NonceService } from '../../src/auth/nonce.js';
import { Attr, integrityKind, readString, verifyIntegrity, type StunMessage } from '../../src/stun/index.js';

export interface AuthResult {
  readonly username: string;
  /** The key that verified the request; it signs the response. */
  readonly key: Buffer;
  readonly kind: 'sha1' | 'sha256';
}

export interface AuthOptions {
  readonly realm: string;
  readonly credentials: CredentialStore;
  readonly nonces: NonceService;
  readonly nowMs: number;
}

/**
 * An expected refusal of a request (401, 438, 400, ...): a plain value, not an Error, so the common
 * "first Allocate without credentials → 401" costs no exception and no stack trace. Only dispatch.ts turns it
 * into an error response (exactly like an AnyturnError with the same code).
 */
export class Refusal {
  readonly stunCode: number;
  constructor(
    readonly code: ErrorCode,
    readonly reason: string,
  ) {
    this.stunCode = ERROR_CODES[code].stunCode ?? 500;
  }

  /** The same refusal as an AnyturnError (for callers that throw). */
  toError(): AnyturnError {
    return new AnyturnError(this.code, this.reason);
  }
}

const NO_INTEGRITY = Object.freeze(new Refusal('ATN_ERR_AUTH_UNAUTHORIZED', 'the request carries no MESSAGE-INTEGRITY'));
const MISSING_FIELDS = Object.freeze(new Refusal('ATN_ERR_STUN_BAD_REQUEST', 'MESSAGE-INTEGRITY without USERNAME, REALM and NONCE'));
const STALE_NONCE = Object.freeze(new Refusal('ATN_ERR_AUTH_STALE_NONCE', 'the NONCE is stale or not issued by this fleet'));
const FOREIGN_REALM = Object.freeze(new Refusal('ATN_ERR_AUTH_UNAUTHORIZED', 'the REALM is not this relay\'s'));
const UNKNOWN_USER = Object.freeze(new Refusal('ATN_ERR_AUTH_UNAUTHORIZED', 'unknown or expired user'));
const MISMATCH = Object.freeze(new Refusal('ATN_ERR_AUTH_UNAUTHORIZED', 'MESSAGE-INTEGRITY mismatch'));

/** Returns who sent the request, or the Refusal (stunCode 400, 401 or 438). Never throws. */
export function tryLongTermAuth(msg: StunMessage, opts: AuthOptions): AuthResult | Refusal {
  const kind = integrityKind(msg);
  if (kind === undefined) return NO_INTEGRITY;
  const username = readString(msg, Attr.USERNAME);
  const realm = readString(msg, Attr.REALM);
  const nonce = readString(msg, Attr.NONCE);
  if (typeof username !== 'string' || typeof realm !== 'string' || typeof nonce !== 'string') return MISSING_FIELDS;
  if (opts.nonces.check(nonce) !== 'ok') return STALE_NONCE;
  if (realm !== opts.realm) return FOREIGN_REALM;
  const keys = opts.credentials.keysFor(username, realm, opts.nowMs);
  for (const key of keys) {
    if (verifyIntegrity(msg, key) === 'ok') return { username, key, kind };
  }
  return keys.length === 0 ? UNKNOWN_USER : MISMATCH;
}

/** Returns who sent the request or throws AnyturnError with stunCode 400, 401 or 438. */
export function checkLongTermAuth(msg: StunMessage, opts: AuthOptions): AuthResult {
  const r = tryLongTermAuth(msg, opts);
  if (r instanceof Refusal) throw r.toError();
  return r;
}
