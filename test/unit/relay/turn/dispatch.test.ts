import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { NonceService } from '../../../../src/auth/nonce.js';
import { silentLogger } from '../../../../src/log.js';
import { Attr, Method, StunClass, readErrorCode, readString, verifyIntegrity } from '../../../../src/stun/index.js';
import { RelayMetrics } from '../../../../relay/metrics.js';
import { TurnServer } from '../../../../relay/turn/turn-server.js';
import { turnOptions } from '../../../../relay/turn/turn-options.js';
import { FakeTransport, KEY, REALM, request, unitServer } from './fakes.js';

const CLIENT = '198.51.100.9';

describe('dispatch: how responses are made', () => {
  let server: TurnServer | undefined;
  afterEach(() => server?.close());

  it('SOFTWARE on every response; FINGERPRINT only when the request had one', () => {
    const u = unitServer({ software: 'anyturn-test' });
    server = u.server;
    const t = new FakeTransport();
    server.handlePacket(t, request(Method.Refresh, undefined, { nonce: u.nonce, fingerprint: false }), CLIENT, 1);
    const r = t.last();
    expect(readErrorCode(r)).toMatchObject({ code: 437 });
    expect(readString(r, Attr.SOFTWARE)).toBe('anyturn-test');
    expect(r.has(Attr.FINGERPRINT)).toBe(false);
    server.handlePacket(t, request(Method.Refresh, undefined, { nonce: u.nonce }), CLIENT, 1);
    expect(t.last().has(Attr.FINGERPRINT)).toBe(true);
  });

  it('error responses to authenticated requests are signed with the request key; 401 is not', () => {
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport();
    server.handlePacket(t, request(Method.CreatePermission, undefined, { nonce: u.nonce }), CLIENT, 1);
    const mismatch = t.last();
    expect(readErrorCode(mismatch)).toMatchObject({ code: 437 });
    expect(verifyIntegrity(mismatch, KEY)).toBe('ok');
    server.handlePacket(t, request(Method.CreatePermission, undefined, { nonce: u.nonce, key: Buffer.alloc(16) }), CLIENT, 1);
    const unauthorized = t.last();
    expect(readErrorCode(unauthorized)).toMatchObject({ code: 401 });
    expect(unauthorized.has(Attr.MESSAGE_INTEGRITY)).toBe(false);
    expect(readString(unauthorized, Attr.REALM)).toBe(REALM);
    expect(unauthorized.has(Attr.NONCE)).toBe(true);
  });

  it('a failing dependency becomes 500 Server Error, and the server keeps serving', () => {
    const metrics = new RelayMetrics(new Registry());
    const clock = { now: () => Date.now() };
    const nonces = new NonceService({ key: Buffer.from('x'), ttlMs: 60_000, clock });
    server = new TurnServer(turnOptions({ realm: REALM }), {
      credentials: {
        keysFor() {
          throw new Error('credential backend down');
        },
      },
      nonces,
      clock,
      log: silentLogger(),
      metrics,
    });
    const t = new FakeTransport();
    server.handlePacket(t, request(Method.Refresh, undefined, { nonce: nonces.issue() }), CLIENT, 1);
    expect(readErrorCode(t.last())).toMatchObject({ code: 500 });
    expect(metrics.responses(500)).toBe(1);
    server.handlePacket(t, request(Method.Binding), CLIENT, 1);
    expect(t.last().cls).toBe(StunClass.SuccessResponse);
  });

  it('indications get no answer; unknown comprehension-required attributes drop them', () => {
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport();
    server.handlePacket(t, request(Method.Send, (w) => w.addBytes(0x7001, Buffer.alloc(4)), undefined, StunClass.Indication), CLIENT, 1);
    server.handlePacket(t, request(Method.Send, undefined, undefined, StunClass.Indication), CLIENT, 1);
    expect(t.sent).toHaveLength(0);
    expect(u.metrics.dropped('malformed')).toBe(1);
    expect(u.metrics.dropped('no-allocation')).toBe(1);
  });
});
