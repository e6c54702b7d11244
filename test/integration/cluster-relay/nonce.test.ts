/**
 * Proof: the fleet nonce key. Relays started with `--redis` and without `--nonce-key` take the key from the store
 * (SET NX, shared by all), so a NONCE obtained from relay A is accepted by relay B: an authenticated Allocate on B
 * carrying A's nonce succeeds at once, without a 401/438 round. Controls: a relay without the store (its own
 * random key) answers that nonce with 438 (another round trip: relay/turn/auth-check.ts treats a foreign nonce as
 * stale), and one with an explicit `--nonce-key` keeps its own key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attr, Method, StunClass, readString } from '../../../src/stun/index.js';
import { errorOf, type TurnClient } from '../../support/turn-client.js';
import { client, PASSWORD, startRedis, startRelay, stopAll, USER, type RedisServer, type TestRelay } from './helpers.js';

let redis: RedisServer;
let a: TestRelay;
let b: TestRelay;
let alone: TestRelay;
let ownKey: TestRelay;
const clients: TurnClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const user = ['--user', `${USER}:${PASSWORD}`];
  [a, b, alone, ownKey] = await Promise.all([
    startRelay('nonce-a', ['--redis', redis.url, ...user]),
    startRelay('nonce-b', ['--redis', redis.url, ...user]),
    startRelay('nonce-alone', user),
    startRelay('nonce-own', ['--redis', redis.url, '--nonce-key', 'ab'.repeat(32), ...user]),
  ]);
}, 40_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stopAll([a, b, alone, ownKey]);
  await redis?.cleanup();
});

async function newClient(relay: TestRelay): Promise<TurnClient> {
  const c = await client(relay, USER, PASSWORD);
  clients.push(c);
  return c;
}

/** REALM and NONCE from an unauthenticated Allocate's 401 on `relay`. */
async function challenge(relay: TestRelay): Promise<{ realm: string; nonce: string }> {
  const c = await newClient(relay);
  const r = await c.request(Method.Allocate, (w) => w.addRequestedTransport(17));
  expect(errorOf(r).code).toBe(401);
  const realm = readString(r, Attr.REALM);
  const nonce = readString(r, Attr.NONCE);
  if (typeof realm !== 'string' || typeof nonce !== 'string') throw new Error('401 without REALM/NONCE');
  return { realm, nonce };
}

/** One signed Allocate on `relay` with the given REALM/NONCE: the raw response (no retry). */
async function signedAllocate(relay: TestRelay, realm: string, nonce: string) {
  const c = await newClient(relay);
  c.realm = realm;
  c.nonce = nonce;
  return c.request(Method.Allocate, (w) => w.addRequestedTransport(17), { sign: true });
}

describe('fleet nonce key from the cluster store', () => {
  it("relay B accepts relay A's nonce on the first authenticated Allocate (and A accepts B's)", async () => {
    const fromA = await challenge(a);
    const onB = await signedAllocate(b, fromA.realm, fromA.nonce);
    expect(onB.cls, `B answered ${onB.cls === StunClass.ErrorResponse ? errorOf(onB).code : 'success'}`).toBe(StunClass.SuccessResponse);

    const fromB = await challenge(b);
    const onA = await signedAllocate(a, fromB.realm, fromB.nonce);
    expect(onA.cls).toBe(StunClass.SuccessResponse);
  });

  it('a relay outside the store (random key) answers that nonce with 438 Stale Nonce (one more round)', async () => {
    const fromA = await challenge(a);
    const r = await signedAllocate(alone, fromA.realm, fromA.nonce);
    expect(r.cls).toBe(StunClass.ErrorResponse);
    expect(errorOf(r).code).toBe(438);
  });

  it('an explicit --nonce-key wins over the store: that relay neither takes nor gives fleet nonces', async () => {
    const fromA = await challenge(a);
    expect(errorOf(await signedAllocate(ownKey, fromA.realm, fromA.nonce)).code).toBe(438);
    const fromOwn = await challenge(ownKey);
    expect(errorOf(await signedAllocate(b, fromOwn.realm, fromOwn.nonce)).code).toBe(438);
    // ...while its own nonces work on itself.
    const again = await challenge(ownKey);
    expect((await signedAllocate(ownKey, again.realm, again.nonce)).cls).toBe(StunClass.SuccessResponse);
  });
});
