/**
 * Deep fuzzing over TCP: 8 workers, each on a succession of connections to a real TurnServer behind its TCP
 * listener, complete the long-term-credential exchange and send 50k mutated, signed requests, Send indications and
 * ChannelData (test/support/turn-fuzzer.ts), cut into partial frames at random points; some connections drip
 * their bytes one at a time; connections end by a close, a reset, a giant length prefix whose body never comes, or
 * bytes no framing accepts. Proven: every answer on every connection is a well-formed STUN message with an error
 * code RFC 8656 allows for its request (test/support/turn-response-check.ts); a Refresh 0 on a connection leaves
 * nothing to the next allocation on it; a giant or garbage frame costs only its own connection; every connection
 * and allocation is gone at the end; nothing hits a bug path; memory stays bounded.
 */
import net from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../src/auth/credential-store.js';
import { longTermKey } from '../../../src/auth/long-term.js';
import { NonceService } from '../../../src/auth/nonce.js';
import { systemClock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/log.js';
import { Attr, Method, StunClass, StunWriter, readErrorCode, type StunMessage, type TransportAddress } from '../../../src/stun/index.js';
import { StreamMetrics } from '../../../relay/listen/stream-metrics.js';
import { TcpListener } from '../../../relay/listen/tcp.js';
import { RelayMetrics } from '../../../relay/metrics.js';
import type { Allocation } from '../../../relay/turn/allocation.js';
import { turnOptions } from '../../../relay/turn/turn-options.js';
import { TurnServer } from '../../../relay/turn/turn-server.js';
import { waitFor } from '../../lab/netns.js';
import { AnswerWaiters } from '../../support/answer-waiters.js';
import { xorshift32 } from '../../support/datagram-fuzzer.js';
import { startFuzzPeers, type FuzzPeers } from '../../support/fuzz-peers.js';
import { TurnFuzzer, requestedChannel, type SentRequest } from '../../support/turn-fuzzer.js';
import { checkResponse } from '../../support/turn-response-check.js';

const TOTAL = 50_000;
const WORKERS = 8;
const CHUNK = 24; // messages between marker Bindings
const USER = { name: 'alice', password: 'secret-a' };
const REALM = 'test.realm';
const KEY = longTermKey(USER.name, REALM, USER.password);

type Ending = 'close' | 'reset' | 'giant-stun' | 'giant-channel-data' | 'garbage';

let peers: FuzzPeers;
let turn: TurnServer;
let listener: TcpListener;
let metrics: RelayMetrics;
let streamMetrics: StreamMetrics;
const problems: string[] = [];

/** One TCP connection driven by a fuzzer: writes in partial frames, reframes and checks what comes back. */
class FuzzConnection {
  readonly socket: net.Socket;
  readonly fuzzer: TurnFuzzer;
  readonly sent = new Map<string, SentRequest>();
  readonly due = new Set<string>();
  readonly #channelOf = new Map<string, number>();
  readonly #waiters = new AnswerWaiters();
  readonly #rand: () => number;
  #buffer: Buffer = Buffer.alloc(0);
  #drained: (() => void) | undefined;
  closedByServer = false;
  readonly closed: Promise<void>;

  constructor(seed: number) {
    this.#rand = xorshift32(seed);
    this.fuzzer = new TurnFuzzer(seed, { username: USER.name, realm: REALM, key: KEY }, peers.peers, { stream: true });
    this.socket = net.connect({ host: '127.0.0.1', port: listener.localPort });
    this.socket.setNoDelay(true);
    this.socket.on('data', (d) => this.#onData(d));
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      this.socket.once('close', () => {
        this.#drained?.();
        resolve();
      }),
    );
    this.socket.once('end', () => void (this.closedByServer = true));
  }

  async connected(): Promise<void> {
    if (!this.socket.connecting) return;
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
  }

  get alive(): boolean {
    return !this.socket.destroyed && !this.closedByServer;
  }

  /** Writes `bytes` in random pieces (partial frames); `drip` writes one byte per event-loop turn. */
  async write(bytes: Buffer, drip = false): Promise<void> {
    let at = 0;
    while (at < bytes.length && this.alive) {
      const n = drip ? 1 : 1 + Math.floor(this.#rand() * Math.min(bytes.length - at, 700));
      this.socket.write(bytes.subarray(at, at + n));
      at += n;
      if (drip || this.#rand() < 0.1) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  record(request: ({ tid: Buffer; answerDue: boolean } & SentRequest) | undefined, bytes: Buffer): void {
    if (request === undefined) return;
    const tid = request.tid.toString('hex');
    this.sent.set(tid, request);
    if (request.answerDue) this.due.add(tid);
    if (request.method === Method.ChannelBind) {
      const channel = requestedChannel(bytes);
      if (channel !== undefined) this.#channelOf.set(tid, channel);
    }
  }

  /** `n` fuzz messages and a marker Binding, written in partial frames; waits for every answer due (or 3 s). */
  async chunk(n: number, drip: boolean): Promise<number> {
    const parts: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const m = this.fuzzer.next();
      this.record(m.request, m.bytes);
      parts.push(m.bytes);
    }
    const tid = randomBytes(12);
    const marker = new StunWriter().reset(Method.Binding, StunClass.Request, tid).toBuffer();
    this.record({ tid, method: Method.Binding, signed: false, fingerprint: false, answerDue: true }, marker);
    parts.push(marker);
    await this.write(Buffer.concat(parts), drip);
    await this.#drain(3000);
    return n;
  }

  /** One signed request built by the fuzzer; its answer (a 438/401 makes it sign again with the new nonce). */
  async ask(method: number, attributes: Parameters<TurnFuzzer['request']>[1], sign = true): Promise<StunMessage> {
    for (let attempt = 0; attempt < 3; attempt++) {
      let m = this.fuzzer.request(method, attributes, sign);
      while (m.request === undefined || !m.request.answerDue || (sign && !m.request.signed)) m = this.fuzzer.request(method, attributes, sign);
      const tid = m.request.tid.toString('hex');
      const answer = this.#waiters.wait(tid, `method 0x${method.toString(16)}`);
      this.record(m.request, m.bytes);
      await this.write(m.bytes);
      const msg = await answer;
      const error = msg.cls === StunClass.ErrorResponse ? readErrorCode(msg) : undefined;
      if (!sign || error === undefined || error === 'bad-attribute' || (error.code !== 438 && error.code !== 401)) return msg;
    }
    throw new Error('no answer after a new nonce');
  }

  #drain(timeoutMs: number): Promise<void> {
    if (this.due.size === 0 || !this.alive) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#drained = undefined;
        resolve();
      };
      this.#drained = done;
    });
  }

  #onData(data: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? data : Buffer.concat([this.#buffer, data]);
    for (;;) {
      const b = this.#buffer;
      if (b.length < 4) return;
      const channelData = (b[0] & 0xc0) === 0x40;
      const size = channelData ? 4 + ((b.readUInt16BE(2) + 3) & ~3) : 20 + b.readUInt16BE(2);
      if (!channelData && (b[0] & 0xc0) !== 0) {
        problems.push(`unframeable bytes from the server: ${b.subarray(0, 8).toString('hex')}`);
        this.#buffer = Buffer.alloc(0);
        return;
      }
      if (b.length < size) return;
      const frame = b.subarray(0, size);
      this.#buffer = b.subarray(size);
      if (!channelData) this.#onMessage(frame);
    }
  }

  #onMessage(frame: Buffer): void {
    const { msg, problem } = checkResponse(frame, this.sent, KEY);
    if (problem !== undefined) {
      if (problems.length < 20) problems.push(problem);
      return;
    }
    if (msg === undefined || msg.cls === StunClass.Indication) return;
    const tid = msg.transactionId.toString('hex');
    this.fuzzer.observe(msg);
    if (msg.cls === StunClass.SuccessResponse && msg.method === Method.ChannelBind) {
      const channel = this.#channelOf.get(tid);
      if (channel !== undefined) this.fuzzer.bound(channel);
    }
    if (this.due.delete(tid) && this.due.size === 0) this.#drained?.();
    this.#waiters.deliver(tid, msg);
  }

  /** Ends the connection the chosen way; resolves once it is closed. */
  async end(how: Ending): Promise<void> {
    switch (how) {
      case 'close':
        this.socket.end();
        break;
      case 'reset':
        this.socket.resetAndDestroy();
        break;
      case 'giant-stun': {
        // A STUN header announcing 65532 bytes, then part of them: the relay waits (bounded) for the rest.
        const head = new StunWriter().reset(Method.Refresh, StunClass.Request, randomBytes(12)).toBuffer();
        head.writeUInt16BE(0xfffc, 2);
        await this.write(Buffer.concat([head, Buffer.alloc(1000 + randomInt(20_000), 7)]));
        this.socket.end();
        break;
      }
      case 'giant-channel-data': {
        const head = Buffer.from([0x40, 0x00, 0xff, 0xff]);
        await this.write(Buffer.concat([head, Buffer.alloc(randomInt(60_000), 9)]));
        this.socket.end();
        break;
      }
      case 'garbage':
        await this.write(Buffer.from([0x80 | randomInt(0x40), 1, 2, 3, 4, 5, 6, 7]));
        break; // the relay closes it
    }
    await this.closed;
  }
}

const attr = (type: number, write: (w: StunWriter) => void) => ({ type, write });
const transport17 = attr(Attr.REQUESTED_TRANSPORT, (w) => w.addRequestedTransport(17));
const peerAttr = (p: TransportAddress) => attr(Attr.XOR_PEER_ADDRESS, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, p));
const lifetime0 = attr(Attr.LIFETIME, (w) => w.addUint32(Attr.LIFETIME, 0));

function expectSuccess(msg: StunMessage, what: string): void {
  const error = msg.cls === StunClass.ErrorResponse ? readErrorCode(msg) : undefined;
  expect(msg.cls, `${what}: ${JSON.stringify(error)}`).toBe(StunClass.SuccessResponse);
}

const allocationOf = (c: FuzzConnection): Allocation | undefined =>
  [...turn.allocations()].find((a) => a.clientPort === c.socket.localPort && a.clientAddress === '127.0.0.1');

/** Refresh 0 on a connection, then a new Allocate on it: nothing of the old allocation is left. */
async function probe(c: FuzzConnection): Promise<void> {
  if (allocationOf(c) !== undefined) expectSuccess(await c.ask(Method.Refresh, [lifetime0]), 'Refresh 0');
  const [pa, pb] = peers.peers;
  expectSuccess(await c.ask(Method.Allocate, [transport17, attr(Attr.EVEN_PORT, (w) => w.addEvenPort(true))]), 'probe Allocate');
  expectSuccess(await c.ask(Method.ChannelBind, [attr(Attr.CHANNEL_NUMBER, (w) => w.addChannelNumber(0x4ffd)), peerAttr(pa)]), 'probe ChannelBind');
  const old = allocationOf(c)!;
  expect([old.permissions?.size, old.channels?.size]).toEqual([1, 1]);
  expectSuccess(await c.ask(Method.Refresh, [lifetime0]), 'probe Refresh 0');
  expect(old.closed).toBe(true);
  const next = await c.ask(Method.Allocate, [transport17]);
  expectSuccess(next, 'probe Allocate on the same connection');
  expect(next.has(Attr.RESERVATION_TOKEN)).toBe(false);
  const fresh = allocationOf(c)!;
  expect(fresh).not.toBe(old);
  expect([fresh.permissions?.size ?? 0, fresh.channels?.size ?? 0, fresh.channelsByPeerPort?.size ?? 0]).toEqual([0, 0, 0]);
  expectSuccess(await c.ask(Method.ChannelBind, [attr(Attr.CHANNEL_NUMBER, (w) => w.addChannelNumber(0x4ffd)), peerAttr(pb)]), 'channel number free again');
}

describe('deep fuzzing behind authentication (TCP)', () => {
  let gc: () => void;

  beforeAll(async () => {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    peers = await startFuzzPeers(4);
    const registry = new Registry();
    metrics = new RelayMetrics(registry);
    streamMetrics = new StreamMetrics(registry);
    const log = silentLogger();
    const base = 20000 + randomInt(40) * 1000;
    // A small retransmit cache: it is full after the warm-up, so memory that grows later is a leak.
    const options = { realm: REALM, ...peers.policy, relayAddresses: ['127.0.0.1', '::1'], minPort: base, maxPort: base + 999, retransmitCacheSize: 1000 };
    turn = new TurnServer(turnOptions(options), {
      credentials: new StaticUsers([USER]),
      nonces: new NonceService({ key: randomBytes(32), ttlMs: 3_600_000, clock: systemClock }),
      clock: systemClock,
      log,
      metrics,
    });
    listener = new TcpListener({ address: '127.0.0.1', port: 0, role: 'unicast', idleTimeoutMs: 5000 }, { sink: turn, log, metrics, streamMetrics });
    await listener.listen();
  });

  afterAll(async () => {
    await listener?.close();
    turn?.close();
    await peers?.close();
  });

  it(`${TOTAL} mutated, signed messages in partial frames, drips, giant frames and garbage: RFC-allowed answers only`, async () => {
    let sent = 0;
    let probes = 0;
    let connections = 0;
    const endings = new Map<Ending, number>();
    // Memory after a warm-up (a tenth of the run), at half time and at the end: a leak grows with the messages, so
    // the JS heap and Buffers must not grow in the second half (the relay's retransmit cache fills in the first).
    let warm: { rss: number; heap: number } | undefined;
    let half: { rss: number; heap: number } | undefined;
    const memory = (): { rss: number; heap: number } => {
      gc();
      const u = process.memoryUsage();
      return { rss: u.rss, heap: u.heapUsed + u.arrayBuffers };
    };
    const worker = async (w: number): Promise<void> => {
      const rand = xorshift32(0x7c9 + w);
      while (sent < TOTAL) {
        const c = new FuzzConnection(0x7c9 + w * 1000 + connections++);
        await c.connected();
        // The long-term-credential exchange on this connection.
        const challenge = await c.ask(Method.Allocate, [transport17], false);
        expect(readErrorCode(challenge)).toMatchObject({ code: 401 });
        const life = 300 + Math.floor(rand() * 1500);
        const drip = rand() < 0.2;
        for (let n = 0, chunks = 0; n < life && sent < TOTAL && c.alive; chunks++) {
          const dripping = drip && chunks < 5; // the first few chunks a byte at a time
          const k = await c.chunk(dripping ? 4 : CHUNK, dripping);
          n += k;
          sent += k;
          if (warm === undefined && sent >= TOTAL / 10) warm = memory();
          if (half === undefined && sent >= TOTAL / 2) half = memory();
          if (rand() < 0.01 && c.alive) {
            await probe(c);
            probes++;
          }
        }
        const endings_: Ending[] = ['close', 'close', 'reset', 'giant-stun', 'giant-channel-data', 'garbage'];
        const how = endings_[Math.floor(rand() * endings_.length)];
        endings.set(how, (endings.get(how) ?? 0) + 1);
        await c.end(how);
        expect(problems).toEqual([]);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    await waitFor('every fuzz connection closed at the relay', () => listener.connectionCount === 0 || undefined, 10_000, 10);
    const end = memory();
    const rssGrowth = end.rss - warm!.rss;
    const heapGrowth = { firstHalf: half!.heap - warm!.heap, secondHalf: end.heap - half!.heap };

    if (process.env.FUZZ_DEBUG) {
      console.log({ sent, connections, probes, endings: Object.fromEntries(endings), rssGrowth, heapGrowth, success: metrics.responses('success'),
        garbage: streamMetrics.closedCount('tcp', 'garbage'), atPeers: peers.received() });
    }
    expect(problems).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(TOTAL);
    expect(metrics.responses('success')).toBeGreaterThan(2000);
    for (const code of [400, 401, 403, 420, 437]) expect(metrics.responses(code), `responses ${code}`).toBeGreaterThan(0);
    // Garbage closed exactly its connections; every allocation ended with its connection.
    expect(streamMetrics.closedCount('tcp', 'garbage')).toBe(endings.get('garbage') ?? 0);
    expect(turn.allocationCount).toBe(0);
    expect(metrics.dropped('internal-error')).toBe(0);
    expect(metrics.responses(500)).toBe(0);
    expect(rssGrowth).toBeLessThan(160 * 1024 * 1024); // RSS jitters with the machine's load: a wide bound
    expect(heapGrowth.secondHalf).toBeLessThan(12 * 1024 * 1024); // a leak of 500 bytes a message would add 12 MB
    expect(heapGrowth.firstHalf + heapGrowth.secondHalf).toBeLessThan(48 * 1024 * 1024);
  }, 120_000);
});
