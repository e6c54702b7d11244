import { describe, expect, it } from 'vitest';
import { StaticUsers, type CredentialStore } from '../../../../src/auth/credential-store.js';
import { NonceService } from '../../../../src/auth/nonce.js';
import { AnyturnError } from '../../../../src/errors.js';
import { Attr, Method, StunWriter, decodeStun, newTransactionId, type StunMessage } from '../../../../src/stun/index.js';
import { checkLongTermAuth } from '../../../../relay/turn/auth-check.js';
import { KEY, REALM, USER, request } from './fakes.js';

let now = 1_000_000;
const clock = { now: () => now };
const nonces = new NonceService({ key: Buffer.from('k'), ttlMs: 60_000, clock });
const users = new StaticUsers([USER]);

function decode(b: Buffer): StunMessage {
  const m = decodeStun(b);
  if (typeof m === 'string') throw new Error(m);
  return m;
}

function stunCode(f: () => unknown): number | undefined {
  try {
    f();
  } catch (err) {
    if (err instanceof AnyturnError) return err.stunCode;
    throw err;
  }
  return undefined;
}

const opts = (credentials: CredentialStore = users) => ({ realm: REALM, credentials, nonces, nowMs: now });

describe('checkLongTermAuth', () => {
  it('accepts a correctly signed request (SHA1 and SHA256)', () => {
    const nonce = nonces.issue();
    expect(checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce })), opts())).toMatchObject({ username: 'alice', kind: 'sha1' });
    const r = checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce, sha256: true })), opts());
    expect(r.kind).toBe('sha256');
    expect(r.key.equals(KEY)).toBe(true);
  });

  it('401 without MESSAGE-INTEGRITY', () => {
    expect(stunCode(() => checkLongTermAuth(decode(request(Method.Allocate)), opts()))).toBe(401);
  });

  it('400 with integrity but missing USERNAME/REALM/NONCE', () => {
    const w = new StunWriter().reset(Method.Allocate, 0, newTransactionId()).addString(Attr.REALM, REALM).addString(Attr.NONCE, nonces.issue());
    w.addMessageIntegrity(KEY);
    expect(stunCode(() => checkLongTermAuth(decode(w.toBuffer()), opts()))).toBe(400);
  });

  it('438 for a stale or foreign nonce', () => {
    const nonce = nonces.issue();
    now += 60_001;
    expect(stunCode(() => checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce })), opts()))).toBe(438);
    expect(stunCode(() => checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce: 'garbage' })), opts()))).toBe(438);
  });

  it('401 for a wrong key, an unknown user, or another realm', () => {
    const nonce = nonces.issue();
    expect(stunCode(() => checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce, key: Buffer.alloc(16) })), opts()))).toBe(401);
    expect(stunCode(() => checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce, user: 'mallory' })), opts()))).toBe(401);
    expect(stunCode(() => checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce })), { ...opts(), realm: 'other' }))).toBe(401);
  });

  it('accepts any of several keys (secret rotation) and reports the one that verified', () => {
    const nonce = nonces.issue();
    const rotating: CredentialStore = { keysFor: () => [Buffer.alloc(16, 1), KEY, Buffer.alloc(16, 2)] };
    const r = checkLongTermAuth(decode(request(Method.Allocate, undefined, { nonce })), opts(rotating));
    expect(r.key.equals(KEY)).toBe(true);
  });
});
