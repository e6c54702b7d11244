/**
 * Deep fuzzing over UDP: 8 clients complete the long-term-credential exchange (401 → REALM/NONCE) with a real
 * TurnServer behind its UDP listener, then send 200k mutated Allocate / Refresh / CreatePermission / ChannelBind
 * requests (signed: MESSAGE-INTEGRITY and FINGERPRINT recomputed, so the mutations reach the handlers), Send
 * indications and ChannelData (test/support/turn-fuzzer.ts). Proven:
 *   - every answer is a well-formed STUN message for a request sent, with an error code RFC 8656 allows for that
 *     request (test/support/turn-response-check.ts), and nearly every request is answered;
 *   - no state of a deleted (Refresh 0) or expired (clock moved past its lifetime) allocation survives into the
 *     next allocation on the same 5-tuple: permissions, channels, channel locks, reservation tokens; checked in
 *     the TurnServer and on the wire, between rounds;
 *   - nothing hits a bug path (500, internal-error) and memory (RSS, heap) stays bounded.
 * Relayed data only reaches the test's own peers (test/support/fuzz-peers.ts). The clock is the real one plus an
 * offset the test moves to expire allocations (and nonces: the fuzzers then redo the 438 exchange).
 */
import dgram from 'node:dgram';
import { randomBytes, randomInt } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../src/auth/credential-store.js';
import { longTermKey } from '../../../src/auth/long-term.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  readErrorCode,
  readReservationToken,
  readXorAddress,
  writeChannelDataHeader,
  type StunMessage,
  type TransportAddress,
} from '../../../src/stun/index.js';
import { waitFor } from '../../lab/netns.js';
import { AnswerWaiters } from '../../support/answer-waiters.js';
import { startFuzzPeers, type FuzzPeers } from '../../support/fuzz-peers.js';
import { TurnFuzzer, requestedChannel, type SentRequest } from '../../support/turn-fuzzer.js';
import { checkResponse } from '../../support/turn-response-check.js';
import { USER, startRelay, type Relay } from './relay-fixture.js';

const TOTAL = Number(process.env.FUZZ_TOTAL ?? 200_000);
const CLIENTS = 8;
const BATCH = 125; // per client and round: 1000 messages a round
const CHUNK = 16; // then a marker Binding and a wait for the answers: at most ~8 x 17 datagrams in flight
const PROBE_EVERY = 25; // rounds
const REALM = 'test.realm';
const KEY = longTermKey(USER.name, REALM, USER.password);

let offsetMs = 0;
const clock = { now: () => Date.now() + offsetMs };
let relay: Relay;
let peers: FuzzPeers;
const problems: string[] = [];

/** One fuzzing client: a UDP socket, its fuzzer, and the requests it is waiting on. */
class FuzzClient {
  readonly socket = dgram.createSocket('udp4');
  readonly fuzzer: TurnFuzzer;
  readonly sent = new Map<string, SentRequest>();
  readonly due = new Set<string>();
  readonly #waiters = new AnswerWaiters();
  readonly #channelOf = new Map<string, number>();
  #drained: (() => void) | undefined;
  answered = 0;
  answersDue = 0;

  constructor(seed: number) {
    this.fuzzer = new TurnFuzzer(seed, { username: USER.name, realm: REALM, key: KEY }, peers.peers);
    this.socket.on('message', (bytes) => this.#onMessage(bytes));
  }

  get port(): number {
    return this.socket.address().port;
  }

  async bind(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
  }

  send(bytes: Buffer, request?: { tid: Buffer; answerDue: boolean } & SentRequest): void {
    if (request !== undefined) {
      const tid = request.tid.toString('hex');
      this.sent.set(tid, request);
      if (request.answerDue && !this.due.has(tid)) {
        this.due.add(tid);
        this.answersDue++;
      }
      if (request.method === Method.ChannelBind) {
        const channel = requestedChannel(bytes);
        if (channel !== undefined) this.#channelOf.set(tid, channel);
      }
    }
    this.socket.send(bytes, relay.address.port, relay.address.address);
  }

  /** One request built by the fuzzer from `attributes` (signed); resolves with the answer (438/401: signed again). */
  async ask(method: number, attributes: Parameters<TurnFuzzer['request']>[1], sign = true): Promise<StunMessage> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const answer = await this.#askOnce(method, attributes, sign);
      const error = answer.cls === StunClass.ErrorResponse ? readErrorCode(answer) : undefined;
      if (error === undefined || error === 'bad-attribute' || (error.code !== 438 && error.code !== 401) || !sign) return answer;
    }
    throw new Error('no answer after a new nonce');
  }

  async #askOnce(method: number, attributes: Parameters<TurnFuzzer['request']>[1], sign: boolean): Promise<StunMessage> {
    for (;;) {
      const m = this.fuzzer.request(method, attributes, sign);
      if (m.request === undefined || (sign && !m.request.signed)) continue; // spoiled on purpose: draw again
      const tid = m.request.tid.toString('hex');
      const answer = this.#waiters.wait(tid, `method 0x${method.toString(16)}`);
      this.send(m.bytes, m.request);
      return answer;
    }
  }

  /**
   * Sends `n` fuzz messages in chunks; after each chunk a marker Binding, then waits until every request due an
   * answer has one (or 2 s passed: a datagram lost). The pacing keeps the relay's receive buffer from overflowing.
   */
  async round(n: number): Promise<void> {
    for (let sent = 0; sent < n; sent += CHUNK) {
      for (let i = 0; i < Math.min(CHUNK, n - sent); i++) {
        const m = this.fuzzer.next();
        this.send(m.bytes, m.request);
      }
      const tid = randomBytes(12);
      this.send(new StunWriter().reset(Method.Binding, StunClass.Request, tid).toBuffer(), {
        tid, method: Method.Binding, signed: false, fingerprint: false, answerDue: true,
      });
      await this.#drain(2000);
    }
    this.due.clear();
    this.sent.clear();
    this.#channelOf.clear();
  }

  #drain(timeoutMs: number): Promise<void> {
    if (this.due.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.#drained = undefined;
        resolve();
      }
      this.#drained = done;
    });
  }

  #onMessage(bytes: Buffer): void {
    const { msg, problem } = checkResponse(bytes, this.sent, KEY);
    if (problem !== undefined) {
      if (problems.length < 20) problems.push(problem);
      return;
    }
    if (msg === undefined || msg.cls === StunClass.Indication) return;
    const tid = msg.transactionId.toString('hex');
    if (this.due.delete(tid)) {
      this.answered++;
      if (this.due.size === 0) this.#drained?.();
    }
    this.fuzzer.observe(msg);
    if (msg.cls === StunClass.SuccessResponse && msg.method === Method.ChannelBind) {
      const channel = this.#channelOf.get(tid);
      if (channel !== undefined) this.fuzzer.bound(channel);
    }
    this.#waiters.deliver(tid, msg);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const attr = (type: number, write: (w: StunWriter) => void) => ({ type, write });
const transport17 = attr(Attr.REQUESTED_TRANSPORT, (w) => w.addRequestedTransport(17));
const peerAttr = (p: TransportAddress) => attr(Attr.XOR_PEER_ADDRESS, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, p));

function expectSuccess(msg: StunMessage, what: string): void {
  const error = msg.cls === StunClass.ErrorResponse ? readErrorCode(msg) : undefined;
  expect(msg.cls, `${what}: ${JSON.stringify(error)}`).toBe(StunClass.SuccessResponse);
}

/** A marker Binding: once answered, the server has handled everything this client sent before. */
async function settle(c: FuzzClient): Promise<void> {
  expectSuccess(await c.ask(Method.Binding, [], false), 'marker Binding');
}

/**
 * An allocation with a permission, a channel and a reservation on `c`'s 5-tuple ends (Refresh 0, or expiry by the
 * clock); the next Allocate on the same 5-tuple must start from nothing.
 */
async function probeLifecycle(c: FuzzClient, end: 'refresh' | 'expiry'): Promise<void> {
  const server = relay.server;
  const find = () => server.findAllocation(relay.listener, '127.0.0.1', c.port);
  if (find() !== undefined) expectSuccess(await c.ask(Method.Refresh, [attr(Attr.LIFETIME, (w) => w.addUint32(Attr.LIFETIME, 0))]), 'Refresh 0');
  expect(find()).toBeUndefined();
  const [pa, pb] = peers.peers;
  const CHANNEL = 0x4ffe;
  const first = await c.ask(Method.Allocate, [transport17, attr(Attr.EVEN_PORT, (w) => w.addEvenPort(true))]);
  expectSuccess(first, 'probe Allocate (EVEN-PORT R=1)');
  expect(readReservationToken(first)).toBeInstanceOf(Buffer);
  expectSuccess(await c.ask(Method.CreatePermission, [peerAttr(pa)]), 'probe CreatePermission');
  expectSuccess(await c.ask(Method.ChannelBind, [attr(Attr.CHANNEL_NUMBER, (w) => w.addChannelNumber(CHANNEL)), peerAttr(pa)]), 'probe ChannelBind');
  const old = find()!;
  expect(old.permissions?.size).toBe(1);
  expect(old.channels?.size).toBe(1);

  if (end === 'refresh') {
    expectSuccess(await c.ask(Method.Refresh, [attr(Attr.LIFETIME, (w) => w.addUint32(Attr.LIFETIME, 0))]), 'probe Refresh 0');
  } else {
    offsetMs += (server.options.maxLifetimeSeconds + 1) * 1000; // every allocation, permission, channel, reservation and nonce
    server.sweep();
  }
  expect(old.closed).toBe(true);
  expect(find()).toBeUndefined();

  const next = await c.ask(Method.Allocate, [transport17]);
  expectSuccess(next, 'probe Allocate on the same 5-tuple');
  expect(next.has(Attr.RESERVATION_TOKEN)).toBe(false);
  const fresh = find()!;
  expect(fresh).not.toBe(old);
  expect([fresh.permissions?.size ?? 0, fresh.channels?.size ?? 0, fresh.channelsByPeerPort?.size ?? 0]).toEqual([0, 0, 0]);

  // On the wire: the old channel and permission are gone (ChannelData and Send to pa dropped; pa's datagram to
  // the new relayed address dropped), and the channel number is free for another peer.
  const m = relay.metrics;
  const before = { noChannel: m.dropped('no-channel'), noPermission: m.dropped('no-permission'), atPeers: peers.received() };
  const data = Buffer.alloc(8);
  writeChannelDataHeader(data, 0, CHANNEL, 4);
  c.send(data);
  c.send(new StunWriter().reset(Method.Send, StunClass.Indication, Buffer.alloc(12, 1)).addXorAddress(Attr.XOR_PEER_ADDRESS, pa).addBytes(Attr.DATA, Buffer.from('stale')).toBuffer());
  await settle(c);
  expect(m.dropped('no-channel') - before.noChannel).toBe(1);
  expect(m.dropped('no-permission') - before.noPermission).toBe(1);
  const relayed = readXorAddress(next, Attr.XOR_RELAYED_ADDRESS) as TransportAddress;
  peers.sockets[0].send(Buffer.from('from the old peer'), relayed.port, relayed.address);
  await waitFor('the peer datagram dropped for lack of permission', () => m.dropped('no-permission') - before.noPermission === 2 || undefined, 5000, 5);
  expect(peers.received()).toBe(before.atPeers);
  expectSuccess(await c.ask(Method.ChannelBind, [attr(Attr.CHANNEL_NUMBER, (w2) => w2.addChannelNumber(CHANNEL)), peerAttr(pb)]), 'channel rebound to another peer');
}

describe('deep fuzzing behind authentication (UDP)', () => {
  let gc: () => void;
  const clients: FuzzClient[] = [];

  beforeAll(async () => {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    peers = await startFuzzPeers(4);
    const base = 20000 + randomInt(40) * 1000;
    relay = await startRelay(
      // A small retransmit cache: it is full after the warm-up, so memory that grows later is a leak.
      { ...peers.policy, relayAddresses: ['127.0.0.1', '::1'], minPort: base, maxPort: base + 999, realm: REALM, retransmitCacheSize: 1000 },
      { clock, nonceTtlMs: 3_600_000, credentials: new StaticUsers([USER]) },
    );
    for (let i = 0; i < CLIENTS; i++) {
      const c = new FuzzClient(0xdeef + i);
      await c.bind();
      clients.push(c);
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await relay?.close();
    await peers?.close();
  });

  it(`${TOTAL} mutated, signed messages: RFC-allowed answers only, no state across allocations, bounded memory`, async () => {
    // The long-term-credential exchange: the unauthenticated Allocate gets 401 with REALM and NONCE.
    for (const c of clients) {
      const challenge = await c.ask(Method.Allocate, [transport17], false);
      expect(readErrorCode(challenge)).toMatchObject({ code: 401 });
      expect(c.fuzzer.nonce).not.toBe('');
    }

    const rounds = TOTAL / (CLIENTS * BATCH);
    // Memory after a warm-up (a tenth of the run), at half time and at the end. A leak grows with the messages:
    // the JS heap and the Buffers (arrayBuffers) must not grow in the second half; RSS (which the allocator does
    // not give back, and which jitters with the machine's load) has a wide absolute bound.
    const memory = (): { rss: number; heap: number } => {
      gc();
      const u = process.memoryUsage();
      return { rss: u.rss, heap: u.heapUsed + u.arrayBuffers };
    };
    let warm = { rss: 0, heap: 0 };
    let half = { rss: 0, heap: 0 };
    let probes = 0;
    for (let round = 1; round <= rounds; round++) {
      await Promise.all(clients.map((c) => c.round(BATCH)));
      if (round === Math.round(rounds / 10)) warm = memory();
      if (round === rounds / 2) half = memory();
      if (round % PROBE_EVERY === 0) {
        const c = clients[probes % CLIENTS];
        await probeLifecycle(c, probes % 2 === 0 ? 'refresh' : 'expiry');
        probes++;
      }
      expect(problems).toEqual([]);
    }
    const end = memory();
    const rssGrowth = end.rss - warm.rss;
    const heapGrowth = { firstHalf: half.heap - warm.heap, secondHalf: end.heap - half.heap };

    const due = clients.reduce((n, c) => n + c.answersDue, 0);
    const answered = clients.reduce((n, c) => n + c.answered, 0);
    const m = relay.metrics;
    if (process.env.FUZZ_DEBUG) {
      const lines = (await relay.registry.metrics()).split('\n');
      console.log(lines.filter((l) => /dropped|responses_total|allocate_errors/.test(l) && !/ 0$/.test(l)).join('\n'));
      console.log({ due, answered, rssGrowth, heapGrowth, probes, allocations: relay.server.allocationCount, atPeers: peers.received() });
    }
    expect(problems).toEqual([]);
    expect(probes).toBe(Math.floor(rounds / PROBE_EVERY));
    // Nearly every request due an answer got one (loopback may drop a datagram when the CPU is busy).
    expect(answered).toBeGreaterThan(due * 0.99);
    // The mutations reached the handlers behind authentication: every kind of answer occurred.
    expect(m.responses('success')).toBeGreaterThan(10_000);
    for (const code of [400, 401, 403, 420, 437, 438, 443]) expect(m.responses(code), `responses ${code}`).toBeGreaterThan(0);
    expect(peers.received()).toBeGreaterThan(1000); // Send and ChannelData relayed to the peers
    expect(m.dropped('internal-error')).toBe(0);
    expect(m.responses(500)).toBe(0);
    expect(relay.server.allocationCount).toBeLessThanOrEqual(CLIENTS);
    expect(rssGrowth).toBeLessThan(160 * 1024 * 1024);
    expect(heapGrowth.secondHalf).toBeLessThan(12 * 1024 * 1024); // a leak of 120 bytes a message would add 12 MB
    expect(heapGrowth.firstHalf + heapGrowth.secondHalf).toBeLessThan(24 * 1024 * 1024);
  }, 120_000);
});
