/**
 * Malformed-input flood at the stream listeners (TCP and TLS): 100k well-framed but random or mutated STUN and
 * ChannelData messages over many connections, with garbage that cannot be framed at the end of some batches
 * (which must close exactly those connections). Nothing may crash, hit a bug path or grow memory; a normal
 * client still works afterwards.
 */
import type net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longTermKey } from '../../../src/auth/long-term.js';
import { NonceService } from '../../../src/auth/nonce.js';
import { systemClock } from '../../../src/clock.js';
import { Attr, Method, StunClass, StunWriter, newTransactionId } from '../../../src/stun/index.js';
import { waitFor } from '../../lab/netns.js';
import { xorshift32 } from '../../support/datagram-fuzzer.js';
import { TurnClient } from '../../support/turn-client.js';
import { startStreamRelay, USER, type StreamRelay } from '../../unit/relay/listen/stream-fixture.js';
import { makeSelfSigned, type SelfSigned } from './self-signed.js';

const TOTAL = 100_000;
const BATCH = 250;
const WORKERS = 8;
const GARBAGE_EVERY = 10; // one batch in ten ends with unframeable bytes

/** Valid requests and indications of every method, signed ones with a nonce the relay accepts. */
function seeds(): Buffer[] {
  const nonce = new NonceService({ key: Buffer.from('stream-test-nonce-key'), ttlMs: 600_000, clock: systemClock }).issue();
  const key = longTermKey(USER.name, 'test.realm', USER.password);
  const peer = { family: 4 as const, address: '127.0.0.1', port: 9 };
  const make = (method: number, cls: StunClass, build: (w: StunWriter) => void, sign: boolean): Buffer => {
    const w = new StunWriter().reset(method, cls, newTransactionId());
    build(w);
    if (sign) w.addString(Attr.USERNAME, USER.name).addString(Attr.REALM, 'test.realm').addString(Attr.NONCE, nonce).addMessageIntegrity(key);
    return w.toBuffer();
  };
  const out: Buffer[] = [];
  for (const sign of [false, true]) {
    out.push(
      make(Method.Binding, StunClass.Request, () => {}, false),
      make(Method.Allocate, StunClass.Request, (w) => w.addRequestedTransport(17).addUint32(Attr.LIFETIME, 600), sign),
      make(Method.Refresh, StunClass.Request, (w) => w.addUint32(Attr.LIFETIME, 0), sign),
      make(Method.CreatePermission, StunClass.Request, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer), sign),
      make(Method.ChannelBind, StunClass.Request, (w) => w.addChannelNumber(0x4001).addXorAddress(Attr.XOR_PEER_ADDRESS, peer), sign),
      make(Method.Send, StunClass.Indication, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer).addBytes(Attr.DATA, Buffer.alloc(21, 7)), false),
    );
  }
  return out;
}

function generator(seed: number): { message(): Buffer; garbage(): Buffer } {
  const rand = xorshift32(seed); // deterministic, so a failure can be replayed
  const int = (n: number): number => Math.floor(rand() * n);
  const pool = seeds();
  return {
    /** One well-framed message: mutated STUN (length field kept true) or random ChannelData (padded). */
    message(): Buffer {
      const kind = int(10);
      if (kind < 3) {
        const length = int(300);
        const b = Buffer.alloc((4 + length + 3) & ~3);
        b.writeUInt16BE(0x4000 + int(0x4000), 0);
        b.writeUInt16BE(length, 2);
        for (let i = 4; i < 4 + length; i++) b[i] = int(256);
        return b;
      }
      const s = pool[int(pool.length)];
      let body = Buffer.from(s.subarray(20));
      if (kind === 3) body = Buffer.alloc(4 * int(80));
      for (let i = 0; i < body.length; i++) if (kind === 3 || rand() < 0.02) body[i] = int(256);
      if (rand() < 0.2) body = body.subarray(0, 4 * int(body.length / 4 + 1));
      const head = Buffer.from(s.subarray(0, 20));
      if (rand() < 0.2) head.writeUInt16BE(int(0x4000), 0); // any type with the top bits 00
      head.writeUInt16BE(body.length, 2);
      if (rand() < 0.3) newTransactionId().copy(head, 8);
      return Buffer.concat([head, body]);
    },
    /** Bytes no framing accepts: top bits 10/11, or a STUN header with a wrong cookie. */
    garbage(): Buffer {
      const b = Buffer.alloc(8 + int(40));
      for (let i = 0; i < b.length; i++) b[i] = int(256);
      if (rand() < 0.5) b[0] |= 0x80;
      else {
        b[0] &= 0x3f;
        b.writeUInt32BE(0xdeadbeef, 4);
      }
      return b;
    },
  };
}

function bindingRequest(): { request: Buffer; tid: Buffer } {
  const tid = newTransactionId();
  return { request: new StunWriter().reset(Method.Binding, StunClass.Request, tid).toBuffer(), tid };
}

async function flood(relay: StreamRelay, tls: boolean, seed: number): Promise<{ framed: number; garbageBatches: number }> {
  const gen = generator(seed);
  let framed = 0;
  let garbageBatches = 0;
  let batchNo = 0;
  const worker = async (): Promise<void> => {
    let client: TurnClient<net.Socket> | undefined;
    const received: Buffer[] = [];
    while (framed < TOTAL) {
      if (client === undefined) {
        client = await TurnClient.connect({ server: { address: '127.0.0.1', port: relay.port }, transport: tls ? 'tls' : 'tcp' });
        client.on('packet', (m) => received.push(m));
      }
      const parts: Buffer[] = [];
      for (let i = 0; i < BATCH; i++) parts.push(gen.message());
      framed += BATCH;
      const withGarbage = ++batchNo % GARBAGE_EVERY === 0;
      if (withGarbage) {
        garbageBatches++;
        parts.push(gen.garbage());
        client.sendRaw(Buffer.concat(parts));
        await client.closed; // the relay closes exactly this connection
        client = undefined;
        continue;
      }
      // A marker Binding after the batch: once answered, every message before it was handled.
      const { request, tid } = bindingRequest();
      parts.push(request);
      received.length = 0;
      client.sendRaw(Buffer.concat(parts));
      const c = client;
      await waitFor('the marker Binding answer', () => {
        if (c.socket.destroyed) throw new Error('connection closed during a well-framed batch');
        return received.some((m) => m.length >= 20 && m.subarray(8, 20).equals(tid)) || undefined;
      }, 10_000, 5);
    }
    await client?.close();
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
  return { framed, garbageBatches };
}

describe('malformed-input flood at the stream listeners', () => {
  let gc: () => void;
  let cert: SelfSigned;

  beforeAll(() => {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    cert = makeSelfSigned();
  });
  afterAll(() => cert.remove());

  for (const kind of ['tcp', 'tls'] as const) {
    it(`${kind}: ${TOTAL} random and mutated messages, garbage closes only its connection, a normal client still works`, async () => {
      const relay = await startStreamRelay(kind === 'tcp' ? 'tcp' : { certFile: cert.certFile, keyFile: cert.keyFile });
      try {
        gc();
        const heapBefore = process.memoryUsage().heapUsed;
        const receivedBefore = relay.metrics.clientReceivedPackets;
        const { framed, garbageBatches } = await flood(relay, kind === 'tls', kind === 'tcp' ? 0x7cb : 0x715);
        await waitFor('every flood connection to close', () => relay.listener.connectionCount === 0 || undefined, 5_000);
        gc();
        const heapAfter = process.memoryUsage().heapUsed;
        if (process.env.FUZZ_DEBUG) {
          const m = relay.metrics;
          console.log(kind, { framed, garbageBatches, received: m.clientReceivedPackets - receivedBefore, malformed: m.dropped('malformed'),
            success: m.responses('success'), e400: m.responses(400), e401: m.responses(401), e437: m.responses(437), heap: heapAfter - heapBefore });
        }

        // Every framed message reached the core, in order, on its connection.
        expect(relay.metrics.clientReceivedPackets - receivedBefore).toBeGreaterThanOrEqual(framed);
        // Exactly the connections that sent garbage were closed for it; the others by their clients.
        expect(relay.streamMetrics.closedCount(kind, 'garbage')).toBe(garbageBatches);
        expect(relay.streamMetrics.open(kind)).toBe(0);
        expect(relay.metrics.dropped('internal-error')).toBe(0);
        expect(relay.metrics.responses(500)).toBe(0);
        expect(heapAfter - heapBefore).toBeLessThan(64 * 1024 * 1024);

        const server = { address: '127.0.0.1', port: relay.port };
        const c = await TurnClient.connect({ server, transport: kind, username: USER.name, password: USER.password });
        try {
          expect((await c.binding()).port).toBe(c.socket.localPort);
          expect((await c.allocate()).relayed[0].address).toBe('127.0.0.1');
        } finally {
          await c.close();
        }
      } finally {
        await relay.close();
      }
    }, 90_000);
  }
});
