import { afterEach, describe, expect, it, vi } from 'vitest';
import { Attr, Method, StunClass, readErrorCode, readXorAddress, type StunMessage } from '../../../../src/stun/index.js';
import type { TurnServer } from '../../../../relay/turn/turn-server.js';
import { FakeTransport, request, unitServer } from './fakes.js';

const CLIENT = '198.51.100.7';

async function allocate(server: TurnServer, t: FakeTransport, nonce: string, port = 5000, lifetime?: number): Promise<StunMessage> {
  const before = t.sent.length;
  server.handlePacket(t, request(Method.Allocate, (w) => {
    w.addRequestedTransport(17);
    if (lifetime !== undefined) w.addUint32(Attr.LIFETIME, lifetime);
  }, { nonce }), CLIENT, port);
  // The relayed socket binds asynchronously: wait for the response (real setImmediate, never faked here).
  while (t.sent.length === before) await new Promise((resolve) => setImmediate(resolve));
  return t.last();
}

describe('TurnServer', () => {
  let server: TurnServer | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
    vi.useRealTimers();
  });

  it('answers Binding on any transport (here a stream) with XOR-MAPPED-ADDRESS, no FINGERPRINT if the request had none', () => {
    const u = unitServer({ software: '' });
    server = u.server;
    const t = new FakeTransport('tcp');
    const w = request(Method.Binding);
    server.handlePacket(t, w, CLIENT, 40000);
    const r = t.last();
    expect(r.cls).toBe(StunClass.SuccessResponse);
    expect(readXorAddress(r, Attr.XOR_MAPPED_ADDRESS)).toEqual({ family: 4, address: CLIENT, port: 40000 });
    expect(r.has(Attr.FINGERPRINT)).toBe(false);
    expect(r.has(Attr.SOFTWARE)).toBe(false);
  });

  it('never throws on garbage and counts it', () => {
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport();
    for (const junk of [Buffer.alloc(0), Buffer.alloc(3), Buffer.from('GET / HTTP/1.1\r\n'), Buffer.alloc(20), Buffer.alloc(2000, 0xff)]) {
      expect(() => server!.handlePacket(t, junk, CLIENT, 1)).not.toThrow();
    }
    expect(u.metrics.dropped('malformed')).toBeGreaterThanOrEqual(4);
    expect(u.metrics.dropped('internal-error')).toBe(0);
    expect(t.sent).toHaveLength(0);
  });

  it('creates an allocation, emits events, and frees it when the stream closes', async () => {
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport('tcp');
    const closed: string[] = [];
    server.on('allocationclosed', (_a, reason) => closed.push(reason));
    const r = await allocate(server, t, u.nonce);
    expect(r.cls).toBe(StunClass.SuccessResponse);
    expect(server.allocationCount).toBe(1);
    expect(server.findAllocation(t, CLIENT, 5000)?.username).toBe('alice');
    server.connectionClosed(t, CLIENT, 5000);
    expect(server.allocationCount).toBe(0);
    expect(closed).toEqual(['connection-closed']);
  });

  it('expires allocations with its periodic sweep (fake timers)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport();
    await allocate(server, t, u.nonce, 5000, 600);
    vi.advanceTimersByTime(599_000);
    expect(server.allocationCount).toBe(1);
    vi.advanceTimersByTime(2_000);
    expect(server.allocationCount).toBe(0);
    expect(u.metrics.allocations).toBe(0);
  });

  it('hands requests on anycast transports to the anycast responder when one is set', async () => {
    const handled: number[] = [];
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport('udp', 'anycast');
    // Without a responder: anycast acts like unicast.
    server.handlePacket(t, request(Method.Binding), CLIENT, 1);
    expect(t.sent).toHaveLength(1);
    server.close();

    const { TurnServer: Server } = await import('../../../../relay/turn/turn-server.js');
    const base = unitServer();
    base.server.close();
    server = new Server(base.server.options, {
      credentials: { keysFor: () => [] },
      nonces: base.nonces,
      clock: { now: () => Date.now() },
      log: (await import('../../../../src/log.js')).silentLogger(),
      metrics: base.metrics,
      anycast: { handle: (_tr, msg) => void handled.push(msg.method), dropChannelData: () => undefined },
    });
    const t2 = new FakeTransport('udp', 'anycast');
    server.handlePacket(t2, request(Method.Binding), CLIENT, 1);
    server.handlePacket(t2, request(Method.Allocate, (w) => w.addRequestedTransport(17)), CLIENT, 1);
    expect(handled).toEqual([Method.Binding, Method.Allocate]);
    expect(t2.sent).toHaveLength(0);
    // Unicast transports of the same server are not affected.
    const t3 = new FakeTransport();
    server.handlePacket(t3, request(Method.Binding), CLIENT, 1);
    expect(t3.sent).toHaveLength(1);
  });

  it('answers unsupported methods with 400 and ignores responses and Binding indications', () => {
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport();
    server.handlePacket(t, request(Method.Connect), CLIENT, 1);
    expect(readErrorCode(t.last())).toMatchObject({ code: 400 });
    server.handlePacket(t, request(Method.Binding, undefined, undefined, StunClass.Indication), CLIENT, 1);
    server.handlePacket(t, request(Method.Binding, undefined, undefined, StunClass.SuccessResponse), CLIENT, 1);
    expect(t.sent).toHaveLength(1);
    expect(u.metrics.dropped('unexpected-message')).toBe(1);
  });

  it('drops a retransmit while the first copy is still being allocated', async () => {
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport();
    const packet = request(Method.Allocate, (w) => w.addRequestedTransport(17), { nonce: u.nonce });
    server.handlePacket(t, packet, CLIENT, 9);
    server.handlePacket(t, packet, CLIENT, 9); // still binding
    expect(u.metrics.dropped('retransmit-pending')).toBe(1);
    while (t.sent.length === 0) await new Promise((resolve) => setImmediate(resolve));
    server.handlePacket(t, packet, CLIENT, 9);
    expect(t.sent).toHaveLength(2);
    expect(t.sent[1].data.equals(t.sent[0].data)).toBe(true);
  });

  it('close() ends every allocation and ignores later packets; idempotent', async () => {
    const u = unitServer();
    server = u.server;
    const t = new FakeTransport();
    await allocate(server, t, u.nonce, 1);
    await allocate(server, t, u.nonce, 2);
    server.close();
    server.close();
    expect(server.allocationCount).toBe(0);
    server.handlePacket(t, request(Method.Binding), CLIENT, 3);
    expect(t.sent).toHaveLength(2);
    expect(u.metrics.allocations).toBe(0);
  });
});
