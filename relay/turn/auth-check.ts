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
import { AnyturnError } from '../../src/errors.js';
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

/** Returns who sent the request or throws AnyturnError with stunCode 400, 401 or 438. */
export function checkLongTermAuth(msg: StunMessage, opts: AuthOptions): AuthResult {
  const kind = integrityKind(msg);
  if (kind === undefined) {
    throw new AnyturnError('ATN_ERR_AUTH_UNAUTHORIZED', 'the request carries no MESSAGE-INTEGRITY');
  }
  const username = readString(msg, Attr.USERNAME);
  const realm = readString(msg, Attr.REALM);
  const nonce = readString(msg, Attr.NONCE);
  if (typeof username !== 'string' || typeof realm !== 'string' || typeof nonce !== 'string') {
    throw new AnyturnError('ATN_ERR_STUN_BAD_REQUEST', 'MESSAGE-INTEGRITY without USERNAME, REALM and NONCE');
  }
  if (opts.nonces.check(nonce) !== 'ok') {
    throw new AnyturnError('ATN_ERR_AUTH_STALE_NONCE', 'the NONCE is stale or not issued by this fleet');
  }
  if (realm !== opts.realm) {
    throw new AnyturnError('ATN_ERR_AUTH_UNAUTHORIZED', 'the REALM is not this relay\'s');
  }
  const keys = opts.credentials.keysFor(username, realm, opts.nowMs);
  for (const key of keys) {
    if (verifyIntegrity(msg, key) === 'ok') return { username, key, kind };
  }
  throw new AnyturnError('ATN_ERR_AUTH_UNAUTHORIZED', keys.length === 0 ? 'unknown or expired user' : 'MESSAGE-INTEGRITY mismatch');
}
