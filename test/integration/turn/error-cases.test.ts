import { afterEach, describe, expect, it } from 'vitest';
import {
  Attr, Method, StunClass, newTransactionId, readErrorCode, readString, readUnknownAttributes, verifyIntegrity, type StunWriter,
} from '../../../src/stun/index.js';
import type { TurnClient } from '../../support/turn-client.js';
import { errorResponseOf, codeOf, USER2, startPeer, startRelay, type Relay } from './relay-fixture.js';


describe('TURN error responses', () => {
  let relay: Relay | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it('401 on a wrong password (no MESSAGE-INTEGRITY in it), with REALM and NONCE', async () => {
    relay = await startRelay();
    const c = await relay.client({ password: 'wrong' });
    const err = await errorResponseOf(c.allocate());
    expect(err.code).toBe(401);
    expect(err.response.has(Attr.MESSAGE_INTEGRITY)).toBe(false);
    expect(readString(err.response, Attr.REALM)).toBe('test.realm');
    expect(err.response.has(Attr.NONCE)).toBe(true);
    expect(relay.registry.getSingleMetric('stun_unauthorized_total')).toBeDefined();
    const text = await relay.registry.metrics();
    expect(text).toMatch(/stun_unauthorized_total 2/);
  });

  it('400 when integrity comes without USERNAME', async () => {
    relay = await startRelay();
    const c = await relay.client();
    await c.request(Method.Binding); // any exchange; then fetch a nonce
    const first = await c.request(Method.Allocate, (w) => w.addRequestedTransport(17));
    c.realm = readString(first, Attr.REALM) as string;
    c.nonce = readString(first, Attr.NONCE) as string;
    const key = c.key!;
    const r = await c.request(Method.Allocate, (w) => {
      w.addRequestedTransport(17).addString(Attr.REALM, c.realm!).addString(Attr.NONCE, c.nonce!).addMessageIntegrity(key);
    });
    expect(readErrorCode(r)).toMatchObject({ code: 400 });
  });

  it('438 with a fresh NONCE for a stale nonce; the client recovers', async () => {
    relay = await startRelay();
    const c = await relay.client();
    c.realm = 'test.realm';
    c.nonce = '1.AAAAAAAAAAAAAAAAAAAAAA'; // well-formed, but not ours
    const r = await c.request(Method.Allocate, (w) => w.addRequestedTransport(17), { sign: true });
    expect(readErrorCode(r)).toMatchObject({ code: 438 });
    expect(r.has(Attr.NONCE)).toBe(true);
    expect(r.has(Attr.REALM)).toBe(true);
    const ok = await c.allocate();
    expect(ok.relayed).toHaveLength(1);
  });

  it('437 for a second Allocate on the same 5-tuple (new transaction)', async () => {
    relay = await startRelay();
    const c = await relay.client();
    await c.allocate();
    const err = await errorResponseOf(c.allocate());
    expect(err.code).toBe(437);
    // Authenticated error responses are signed.
    expect(err.response.has(Attr.MESSAGE_INTEGRITY)).toBe(true);
  });

  it('441 when another user refreshes the allocation', async () => {
    relay = await startRelay();
    const c = await relay.client();
    await c.allocate();
    // Same socket, other credentials.
    c.options.username = USER2.name;
    c.options.password = USER2.password;
    expect(await codeOf(c.refresh(600))).toBe(441);
    expect(await codeOf(c.createPermission({ family: 4, address: '127.0.0.1', port: 1 }))).toBe(441);
  });

  it('442 for REQUESTED-TRANSPORT TCP; 400 without REQUESTED-TRANSPORT', async () => {
    relay = await startRelay();
    const c = await relay.client();
    expect(await codeOf(c.allocate({ transport: 6 }))).toBe(442);
    expect(await codeOf(c.allocate({ transport: null }))).toBe(400);
    expect(relay.server.allocationCount).toBe(0);
    const text = await relay.registry.metrics();
    expect(text).toMatch(/turn_allocate_errors_total\{code="442"\} 1/);
  });

  it('486 past the per-user quota, 508 at capacity', async () => {
    relay = await startRelay({ userQuota: 1, capacity: 2 });
    const a = await relay.client();
    await a.allocate();
    const b = await relay.client();
    expect(await codeOf(b.allocate())).toBe(486);
    const other = await relay.client({ username: USER2.name, password: USER2.password });
    await other.allocate();
    const third = await relay.client({ username: 'carol-unknown' });
    // Unknown user: 401 comes before any quota.
    expect(await codeOf(third.allocate())).toBe(401);
    const more = await relay.client({ username: USER2.name, password: USER2.password });
    expect(await codeOf(more.allocate())).toBe(508);
    // Freeing one makes room again.
    await a.refresh(0);
    const again = await relay.client();
    expect((await again.allocate()).relayed).toHaveLength(1);
  });

  it('403 for peers refused by the peer policy; denyPeers beats allowPeers', async () => {
    relay = await startRelay({ allowPeers: ['127.0.0.0/8'], denyPeers: ['127.0.0.99/32'] });
    const c = await relay.client();
    await c.allocate();
    expect(await codeOf(c.createPermission({ family: 4, address: '10.1.2.3', port: 5000 }))).toBe(403);
    expect(await codeOf(c.createPermission({ family: 4, address: '169.254.169.254', port: 80 }))).toBe(403);
    expect(await codeOf(c.createPermission({ family: 4, address: '127.0.0.99', port: 80 }))).toBe(403);
    expect(await codeOf(c.channelBind(0x4000, { family: 4, address: '192.168.1.1', port: 80 }))).toBe(403);
    // All-or-nothing: one refused peer fails the whole request.
    expect(
      await codeOf(c.createPermission({ family: 4, address: '127.0.0.1', port: 1 }, { family: 4, address: '10.0.0.1', port: 1 })),
    ).toBe(403);
    await c.createPermission({ family: 4, address: '127.0.0.2', port: 9 });
  });

  it('443 for a peer of the other family', async () => {
    relay = await startRelay();
    const c = await relay.client();
    await c.allocate();
    expect(await codeOf(c.createPermission({ family: 6, address: '2001:db8::1', port: 5000 }))).toBe(443);
    expect(await codeOf(c.refresh(600, 6))).toBe(443);
  });

  it('unknown comprehension-required attributes: 401 before authentication (RFC 8489 §9.2.4), then a signed 420', async () => {
    relay = await startRelay();
    const c = await relay.client();
    const unknown = (w: StunWriter): void => void w.addRequestedTransport(17).addBytes(0x7777, Buffer.from([1, 2, 3, 4]));
    const first = await c.request(Method.Allocate, unknown);
    expect(readErrorCode(first)).toMatchObject({ code: 401 });
    expect(first.has(Attr.UNKNOWN_ATTRIBUTES)).toBe(false); // nothing about the request for an unknown sender
    c.realm = readString(first, Attr.REALM) as string;
    c.nonce = readString(first, Attr.NONCE) as string;
    const r = await c.request(Method.Allocate, unknown, { sign: true });
    expect(readErrorCode(r)).toMatchObject({ code: 420 });
    expect(readUnknownAttributes(r)).toEqual([0x7777]);
    expect(verifyIntegrity(r, c.key!)).toBe('ok');
    // Before the 437 of a Refresh without an allocation, too; a wrong password still gets 401, unsigned.
    const refresh = await c.request(Method.Refresh, (w) => w.addBytes(0x7777, Buffer.alloc(4)), { sign: true });
    expect(readErrorCode(refresh)).toMatchObject({ code: 420 });
    expect(verifyIntegrity(refresh, c.key!)).toBe('ok');
    const intruder = await relay.client({ password: 'wrong' });
    intruder.realm = c.realm;
    intruder.nonce = c.nonce;
    const refused = await intruder.request(Method.Allocate, unknown, { sign: true });
    expect(readErrorCode(refused)).toMatchObject({ code: 401 });
    expect(refused.has(Attr.MESSAGE_INTEGRITY)).toBe(false);
    // Binding needs no authentication: 420 at once.
    const binding = await c.request(Method.Binding, (w) => w.addBytes(0x7777, Buffer.alloc(4)));
    expect(readErrorCode(binding)).toMatchObject({ code: 420 });
    expect(readUnknownAttributes(binding)).toEqual([0x7777]);
    // Unknown comprehension-optional attributes are ignored.
    const b = await c.request(Method.Binding, (w) => w.addBytes(0xc001, Buffer.from([1])));
    expect(b.cls).toBe(StunClass.SuccessResponse);
  });

  it('400 for ChannelBind outside 0x4000-0x7FFF and for rebinding conflicts', async () => {
    relay = await startRelay();
    const peer = await startPeer();
    const peer2 = await startPeer();
    try {
      const c = await relay.client();
      await c.allocate();
      expect(await codeOf(c.channelBind(0x3fff, peer.address))).toBe(400);
      expect(await codeOf(c.channelBind(0x8000, peer.address))).toBe(400);
      await c.channelBind(0x4000, peer.address);
      await c.channelBind(0x4000, peer.address); // refresh of the same binding
      expect(await codeOf(c.channelBind(0x4000, peer2.address))).toBe(400); // number bound to another peer
      expect(await codeOf(c.channelBind(0x4001, peer.address))).toBe(400); // peer bound to another number
    } finally {
      await peer.close();
      await peer2.close();
    }
  });

  it('437 for CreatePermission/ChannelBind/Refresh without an allocation', async () => {
    relay = await startRelay();
    const c = await relay.client();
    expect(await codeOf(c.createPermission({ family: 4, address: '127.0.0.1', port: 1 }))).toBe(437);
    expect(await codeOf(c.channelBind(0x4000, { family: 4, address: '127.0.0.1', port: 1 }))).toBe(437);
    expect(await codeOf(c.refresh(600))).toBe(437);
  });

  it('answers a retransmitted request with the identical bytes, without running it again', async () => {
    relay = await startRelay();
    const c: TurnClient = await relay.client();
    await c.allocate(); // learn realm/nonce (and allocate)
    await c.refresh(0);
    const tid = newTransactionId();
    const packet = c.encode(Method.Allocate, StunClass.Request, tid, (w) => w.addRequestedTransport(17), true);
    const raw: Buffer[] = [];
    c.socket.on('message', (m) => {
      if (m.length >= 20 && m.subarray(8, 20).equals(tid)) raw.push(Buffer.from(m));
    });
    const first = await c.exchangeRaw(packet, tid);
    expect(first.cls).toBe(StunClass.SuccessResponse);
    const second = await c.exchangeRaw(packet, tid);
    expect(second.cls).toBe(StunClass.SuccessResponse);
    expect(raw).toHaveLength(2);
    expect(raw[1].equals(raw[0])).toBe(true);
    expect(relay.server.allocationCount).toBe(1);
    expect(relay.metrics.retransmits).toBe(1);
    // A deleting Refresh, retransmitted, stays a success.
    const tid2 = newTransactionId();
    const del = c.encode(Method.Refresh, StunClass.Request, tid2, (w) => w.addUint32(Attr.LIFETIME, 0), true);
    expect((await c.exchangeRaw(del, tid2)).cls).toBe(StunClass.SuccessResponse);
    expect((await c.exchangeRaw(del, tid2)).cls).toBe(StunClass.SuccessResponse);
    expect(relay.server.allocationCount).toBe(0);
  });

  it('drops requests with a bad FINGERPRINT silently', async () => {
    relay = await startRelay();
    const c = await relay.client();
    const tid = newTransactionId();
    const packet = c.encode(Method.Binding, StunClass.Request, tid);
    packet[packet.length - 1] ^= 0xff;
    const answers: Buffer[] = [];
    c.socket.on('message', (m) => {
      if (m.length >= 20 && m.subarray(8, 20).equals(tid)) answers.push(m);
    });
    c.sendRaw(packet);
    // The relay handles datagrams in order: once a later Binding is answered, the bad one was seen.
    await c.binding();
    expect(answers).toHaveLength(0);
    expect(relay.metrics.dropped('bad-fingerprint')).toBe(1);
  });

  it('signs responses with MESSAGE-INTEGRITY-SHA256 when the request used it', async () => {
    relay = await startRelay();
    const c = await relay.client({ integrity: 'sha256' });
    const r = await c.allocate();
    expect(r.response.has(Attr.MESSAGE_INTEGRITY_SHA256)).toBe(true);
    expect(r.response.has(Attr.MESSAGE_INTEGRITY)).toBe(false);
  });

  it('508 beyond the permissions one allocation may hold; existing peers can still be refreshed', async () => {
    relay = await startRelay({ maxPermissionsPerAllocation: 3 });
    const c = await relay.client();
    await c.allocate();
    const peer = (n: number) => ({ family: 4 as const, address: `127.0.1.${n}`, port: 9 });
    await c.createPermission(peer(1), peer(2));
    expect(await codeOf(c.createPermission(peer(3), peer(4)))).toBe(508);
    await c.createPermission(peer(3)); // exactly at the limit
    await c.createPermission(peer(1), peer(2), peer(3)); // refreshing takes no new room
    expect(await codeOf(c.channelBind(0x4001, peer(5)))).toBe(508);
    await c.channelBind(0x4001, peer(2));
  });

  it('refuses peer port 0: ChannelBind gets 400, a Send indication is dropped as malformed', async () => {
    relay = await startRelay();
    const c = await relay.client();
    await c.allocate();
    const zero = { family: 4 as const, address: '127.0.0.1', port: 0 };
    expect(await codeOf(c.channelBind(0x4002, zero))).toBe(400);
    const before = relay.metrics.dropped('malformed');
    c.sendIndication(zero, Buffer.from('to nowhere'));
    await c.binding(); // handled in order: the indication was seen
    expect(relay.metrics.dropped('malformed')).toBe(before + 1);
    expect(relay.metrics.dropped('send-failed')).toBe(0);
  });
});
