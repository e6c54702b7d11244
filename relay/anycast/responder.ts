/**
 * AnycastResponder: what a relay does with a STUN request that arrived on the anycast address G (docs/anycast.md,
 * "The path of one client"). Every reply leaves through the same ClientTransport, i.e. from G:port.
 *
 *   Binding                  XOR-MAPPED-ADDRESS, also while full or draining
 *   Allocate, unauthenticated
 *     strict (default)       401 + REALM + NONCE (fleet-wide stateless nonce) (RFC 8489 §9.2)
 *     fast                   300 Try Alternate + ALTERNATE-SERVER + REALM + NONCE
 *   Allocate, authenticated  MI valid: 300 + ALTERNATE-SERVER + MESSAGE-INTEGRITY(-SHA256, as the request);
 *                            otherwise the refusal of the one long-term check (relay/turn/auth-check.ts): 400/401/438
 *   Refresh, CreatePermission, ChannelBind, Connect, ConnectionBind: 437 (no allocation ever lives on G)
 *   indications, ChannelData, responses, unknown methods: dropped and counted
 *
 * One answer per request (UDP). Every relay of the PoP receives each datagram sent to G. The relays of the race
 * group (race-group.ts) agree, per request, on an order (race-rank.ts: least-loaded first, ties spread by a
 * per-request hash); a relay answers after   load delay (race-delay.ts) + rank × race step,   and the relay that
 * answers (or deliberately drops: rate limit, budget) multicasts a claim that cancels the later-ranked relays'
 * pending answers. So the client gets one 401 and one 300, from the least-loaded relay; if that relay died, the
 * next one answers a race step later. A full (score >= 1) or draining relay never answers an Allocate.
 * `race: single` keeps the older scheme (one responder per client flow by rendezvous hashing over the directory).
 * TCP/TLS to G reach one relay only (ECMP): there the 300 goes out at once, and a full/draining relay redirects
 * to the least-loaded other relay of the directory, if it knows one.
 *
 * Amplification: every answer sent over UDP without proof of credentials takes a token from the per-source and
 * global buckets (rate-limit.ts) and its size from the byte budget (answer-budget.ts: out <= in at any source
 * spread). Answers carry only what the client needs: no SOFTWARE, empty reason phrases, FINGERPRINT only when the
 * request had one. See docs/anycast.md for the bound.
 *
 * Hot path: no throw, no await, no emit, no per-packet logging; one copy of each answer (the transport may send it
 * later).
 */
import type { Clock } from '../../src/clock.js';
import type { CredentialStore } from '../../src/auth/credential-store.js';
import type { NonceService } from '../../src/auth/nonce.js';
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  integrityKind,
  verifyFingerprint,
  type StunMessage,
  type TransportAddress,
} from '../../src/stun/index.js';
import type { RaceCurve, RaceMode, RedirectMode } from '../../src/config/schema.js';
import { Refusal, tryLongTermAuth } from '../turn/auth-check.js';
import type { ClientTransport } from '../turn/client-transport.js';
import { familyOf } from '../turn/five-tuple.js';
import type { AnswerBudget } from './answer-budget.js';
import { DelayQueue, systemTimers, type Timers } from './delay-queue.js';
import type { LoadProvider } from './load-monitor.js';
import type { AnswerKind, AnycastMetrics } from './metrics.js';
import { raceDecision, raceDelayMs } from './race-delay.js';
import { raceKeyOf, requestHashOf } from './race-rank.js';
import type { SourceRateLimiter } from './rate-limit.js';
import {
  alternateKey,
  fallbackRelay,
  type AlternateKey,
  flowKey,
  LOAD_STEPS,
  singleResponder,
  type AlternateServers,
  type RelayDirectory,
} from './single-responder.js';

export type { RaceMode, RedirectMode };

export interface AnycastResponderOptions {
  /** REALM of the long-term credentials (the same on every relay of the fleet). */
  realm: string;
  /** `--redirect`. */
  redirect: RedirectMode;
  /** `--race`. */
  race: RaceMode;
  /** `--race-max-delay`: the delay at score 1, ms. */
  raceMaxDelayMs: number;
  /** `--race-curve`. */
  raceCurve: RaceCurve;
  /** `--race-step`: how much later each next-ranked relay answers, ms. */
  raceStepMs: number;
  /** This relay's id (`--id`): its name in the RelayDirectory. */
  relayId: string;
  /** This relay's unicast addresses by transport and family: the ALTERNATE-SERVER of its 300s. */
  alternates: AlternateServers;
  /** Most delayed answers pending at once (default 4096). */
  maxPending?: number;
}

/** What the responder needs of the race group (race-group.ts). */
export interface RaceGroupView {
  readonly peers: number;
  /** This relay's load step as the group ranks it (0..LOAD_STEPS). */
  readonly loadStep: number;
  rank(requestKey: string, allocate: boolean): number;
  claim(clientAddress: string, clientPort: number, transactionId: Buffer, requestHash: number): void;
  refresh(): void;
}

/** Where a full or draining PoP sends new clients (implemented by relay/capacity/remote-overflow.ts). */
export interface OverflowTarget {
  /** A remote relay's address for this transport and family, when this relay is the PoP's designated responder. */
  alternate(key: AlternateKey): TransportAddress | undefined;
}

export interface AnycastResponderDeps {
  credentials: CredentialStore;
  nonces: NonceService;
  clock: Clock;
  log: Logger;
  load: LoadProvider;
  drain: { readonly isDraining: boolean };
  limiter: SourceRateLimiter;
  budget: AnswerBudget;
  metrics: AnycastMetrics;
  /** The PoP's race group; without it this relay races alone (rank 0 for every request). */
  group?: RaceGroupView;
  /** The PoP's live relays; required with `race: single`, used for stream fallbacks when given. */
  directory?: RelayDirectory;
  /** Where a full/draining PoP sends new clients (relay/capacity/remote-overflow.ts); absent = silent. */
  overflow?: OverflowTarget;
  /** `--standby` (relay/capacity/standby.ts): silent in the race while `silent` says so. */
  standby?: { readonly silent: boolean };
  timers?: Timers;
}

/** One answer on its way: sent at once or when its race delay is over, unless a peer's claim cancels it. */
interface PendingAnswer {
  readonly key: string;
  readonly transport: ClientTransport;
  readonly data: Buffer;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly transactionId: Buffer;
  readonly requestHash: number;
  readonly kind: AnswerKind;
  /** Sent without proof of credentials: rate-limited and paid from the byte budget. */
  readonly unauthenticated: boolean;
  /** An answer to an Allocate: not sent if the relay started draining meanwhile. */
  readonly allocate: boolean;
  /** The PoP saw this request before (the client retransmitted): first in line for the byte budget. */
  readonly retransmission: boolean;
  canceled: boolean;
}

/** How long a claim that arrived before our own copy of the request is remembered, ms. */
const CLAIM_MEMORY_MS = 100;
/** Requests per generation of the seen-request sets (a retransmission comes within seconds). */
const SEEN_GENERATION = 16_384;
const MAX_REMEMBERED_CLAIMS = 4096;

export class AnycastResponder {
  readonly #opts: AnycastResponderOptions;
  readonly #deps: AnycastResponderDeps;
  readonly #metrics: AnycastMetrics;
  readonly #writer = new StunWriter();
  readonly #queue: DelayQueue<PendingAnswer>;
  /** Answers waiting in the queue, by race key (a peer's claim cancels them). */
  readonly #pending = new Map<string, PendingAnswer>();
  /** Claims of peers for requests we had not seen yet: race key -> until when (ms). */
  readonly #claims = new Map<string, number>();
  /** Race keys of the recent UDP requests on G, two generations (a retransmission finds its first copy here). */
  #seen = new Set<string>();
  #seenBefore = new Set<string>();
  #closed = false;

  constructor(options: AnycastResponderOptions, deps: AnycastResponderDeps) {
    if (options.race === 'single' && deps.directory === undefined) {
      throw new AnyturnError('ATN_ERR_CONFIG_INVALID', 'race: --race single needs a relay directory (a cluster store)');
    }
    this.#opts = { ...options, alternates: { ...options.alternates } };
    this.#deps = deps;
    this.#metrics = deps.metrics;
    // A due answer goes out after the I/O poll phase (setImmediate): a peer's claim that arrived while this
    // process was busy is read first, even when the timer and the claim became ready in the same loop turn.
    const timers = deps.timers ?? systemTimers;
    this.#queue = new DelayQueue<PendingAnswer>(
      { capacity: options.maxPending ?? 4096 },
      { clock: deps.clock, timers, deliver: (a) => timers.defer(() => this.#deliver(a)) },
    );
    deps.log.info(
      {
        redirect: options.redirect,
        race: options.race,
        raceMaxDelayMs: options.raceMaxDelayMs,
        raceCurve: options.raceCurve,
        raceStepMs: options.raceStepMs,
        alternates: Object.keys(options.alternates),
      },
      'anycast responder ready',
    );
  }

  /** Delayed answers waiting for their race delay. */
  get pending(): number {
    return this.#pending.size;
  }

  get metrics(): AnycastMetrics {
    return this.#metrics;
  }

  /** One STUN message received on an anycast listener. Never throws. */
  handle(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void {
    if (this.#closed) return;
    this.#metrics.bytesIn += msg.raw.length;
    if (msg.cls !== StunClass.Request) {
      this.#metrics.count(msg.cls === StunClass.Indication ? 'dropped-indication' : 'dropped-invalid');
      return;
    }
    if (transport.protocol === 'udp') this.#deps.budget.earn(msg.raw.length, 1 + (this.#deps.group?.peers ?? 0));
    if (verifyFingerprint(msg) === 'mismatch' || msg.unknownComprehensionRequired().length > 0) {
      this.#metrics.count('dropped-invalid');
      return;
    }
    switch (msg.method) {
      case Method.Binding:
        this.#binding(transport, msg, clientAddress, clientPort);
        return;
      case Method.Allocate:
        this.#allocate(transport, msg, clientAddress, clientPort);
        return;
      case Method.Refresh:
      case Method.CreatePermission:
      case Method.ChannelBind:
      case Method.Connect:
      case Method.ConnectionBind:
        if (!this.#mayAnswer(transport, clientAddress, clientPort)) return;
        this.#sendError(transport, msg, 437, clientAddress, clientPort, false, 0);
        return;
      default:
        this.#metrics.count('dropped-invalid');
    }
  }

  /** A ChannelData message arrived on G (the TURN core calls this instead of handle). */
  dropChannelData(bytes: number): void {
    this.#metrics.bytesIn += bytes;
    this.#metrics.count('dropped-channel-data');
  }

  /** A peer of the race group answered (or dropped) a request: our pending answer to it is not sent. */
  peerClaimed(clientAddress: string, clientPort: number, transactionId: Buffer, requestHash: number): void {
    if (this.#closed) return;
    const key = raceKeyOf(clientAddress, clientPort, transactionId, requestHash);
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      pending.canceled = true;
      this.#pending.delete(key);
      this.#metrics.count('silent-claimed');
      return;
    }
    if (this.#claims.size >= MAX_REMEMBERED_CLAIMS) this.#claims.clear();
    this.#claims.set(key, this.#deps.clock.now() + CLAIM_MEMORY_MS);
  }

  /** Drops the pending answers; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
    this.#pending.clear();
    this.#claims.clear();
  }

  #binding(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void {
    const w = this.#writer.reset(Method.Binding, StunClass.SuccessResponse, msg.transactionId);
    w.addXorAddress(Attr.XOR_MAPPED_ADDRESS, { family: familyOf(clientAddress), address: clientAddress, port: clientPort });
    if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
    this.#answer(transport, msg, w.toBuffer(), clientAddress, clientPort, 'binding', { unauthenticated: true, allocate: false, delayMs: 0 });
  }

  #allocate(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void {
    if (!msg.has(Attr.REQUESTED_TRANSPORT)) {
      this.#metrics.count('dropped-invalid');
      return;
    }
    const stream = transport.protocol !== 'udp';
    const key = alternateKey(transport.protocol, familyOf(clientAddress));
    const draining = this.#deps.drain.isDraining;
    const standby = this.#deps.standby?.silent === true;
    const decision = raceDecision(this.#deps.load.score(), draining || standby, this.#opts.raceMaxDelayMs, this.#opts.raceCurve);
    let alternate: TransportAddress | undefined = this.#opts.alternates[key];
    let delayMs = 0;
    let remote: TransportAddress | undefined;
    if (decision.kind === 'silent') {
      const other = stream && this.#deps.directory ? fallbackRelay(this.#deps.directory.relays(), this.#opts.relayId, key) : undefined;
      remote = other === undefined && !standby ? this.#deps.overflow?.alternate(key) : undefined;
      if (other === undefined && remote === undefined) {
        this.#metrics.count(standby ? 'silent-standby' : decision.reason === 'full' ? 'silent-full' : 'silent-draining');
        return;
      }
      alternate = other?.address ?? remote;
    } else if (!stream && this.#opts.race === 'race') {
      delayMs = decision.delayMs;
    }
    // The overflow answer comes from the PoP's one designated relay: no hashing over a directory of full relays.
    if (remote === undefined && !this.#mayAnswer(transport, clientAddress, clientPort)) return;
    if (alternate === undefined) {
      this.#metrics.count('dropped-no-alternate');
      return;
    }

    if (integrityKind(msg) === undefined) {
      if (this.#opts.redirect === 'strict') {
        // the challenge is not load-delayed (RFC 8489 §9.2): who sends it is the race group's rank
        this.#sendError(transport, msg, 401, clientAddress, clientPort, true, 0);
        return;
      }
      const w = this.#writer.reset(Method.Allocate, StunClass.ErrorResponse, msg.transactionId);
      w.addErrorCode(300, '').addAddress(Attr.ALTERNATE_SERVER, alternate);
      w.addString(Attr.REALM, this.#opts.realm).addString(Attr.NONCE, this.#deps.nonces.issue());
      if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
      this.#answer(transport, msg, w.toBuffer(), clientAddress, clientPort, '300', { unauthenticated: true, allocate: true, delayMs });
      return;
    }

    const auth = tryLongTermAuth(msg, {
      realm: this.#opts.realm,
      credentials: this.#deps.credentials,
      nonces: this.#deps.nonces,
      nowMs: this.#deps.clock.now(),
    });
    if (auth instanceof Refusal) {
      this.#sendError(transport, msg, auth.stunCode as ErrorAnswer, clientAddress, clientPort, true, delayMs);
      return;
    }
    const w = this.#writer.reset(Method.Allocate, StunClass.ErrorResponse, msg.transactionId);
    w.addErrorCode(300, '').addAddress(Attr.ALTERNATE_SERVER, alternate);
    if (auth.kind === 'sha256') w.addMessageIntegritySha256(auth.key);
    else w.addMessageIntegrity(auth.key);
    if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
    this.#answer(transport, msg, w.toBuffer(), clientAddress, clientPort, '300', { unauthenticated: false, allocate: true, delayMs });
  }

  /** `race: single`: only the relay the flow hashes to answers Allocates and TURN requests. */
  #mayAnswer(transport: ClientTransport, clientAddress: string, clientPort: number): boolean {
    if (this.#opts.race !== 'single' || this.#deps.directory === undefined) return true;
    if (transport.protocol !== 'udp') return true; // one relay gets the stream anyway
    const flow = flowKey(transport.protocol, clientAddress, clientPort, transport.localAddress, transport.localPort);
    if (singleResponder(this.#deps.directory.relays(), flow) === this.#opts.relayId) return true;
    this.#metrics.count('silent-not-chosen');
    return false;
  }

  /** 400 / 401 / 437 / 438 with an empty reason phrase; 401 and 438 carry REALM and a fresh NONCE. */
  #sendError(
    transport: ClientTransport,
    msg: StunMessage,
    code: ErrorAnswer,
    clientAddress: string,
    clientPort: number,
    allocate: boolean,
    delayMs: number,
  ): void {
    const w = this.#writer.reset(msg.method, StunClass.ErrorResponse, msg.transactionId);
    w.addErrorCode(code, '');
    if (code === 401 || code === 438) {
      w.addString(Attr.REALM, this.#opts.realm).addString(Attr.NONCE, this.#deps.nonces.issue());
    }
    if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
    this.#answer(transport, msg, w.toBuffer(), clientAddress, clientPort, ERROR_KIND[code], { unauthenticated: true, allocate, delayMs });
  }

  /**
   * Streams: sent at once. UDP: ranked in the race group and sent after   delayMs + rank × race step,   unless a
   * peer claims the request first.
   */
  #answer(
    transport: ClientTransport,
    msg: StunMessage,
    data: Buffer,
    clientAddress: string,
    clientPort: number,
    kind: AnswerKind,
    how: { unauthenticated: boolean; allocate: boolean; delayMs: number },
  ): void {
    if (transport.protocol !== 'udp') {
      this.#send(transport, data, clientAddress, clientPort, kind);
      return;
    }
    const requestHash = requestHashOf(msg.raw);
    const key = raceKeyOf(clientAddress, clientPort, msg.transactionId, requestHash);
    const claimedUntil = this.#claims.get(key);
    if (claimedUntil !== undefined) {
      this.#claims.delete(key);
      if (claimedUntil > this.#deps.clock.now()) {
        this.#metrics.count('silent-claimed');
        return;
      }
    }
    if (this.#pending.has(key)) return; // a retransmission while our answer to the first copy still waits
    const answer: PendingAnswer = {
      key, transport, data, clientAddress, clientPort, transactionId: msg.transactionId, requestHash, kind,
      unauthenticated: how.unauthenticated, allocate: how.allocate, retransmission: this.#sawBefore(key), canceled: false,
    };
    const group = this.#deps.group;
    let delayMs = how.delayMs;
    if (group !== undefined && this.#opts.race === 'race' && group.peers > 0) {
      // In the group the load delay comes from the announced load step, the same number the ranking uses: the
      // answers of consecutive ranks are then at least one race step apart (a raw, noisy score could reorder them).
      group.refresh();
      if (delayMs > 0) delayMs = raceDelayMs(group.loadStep / LOAD_STEPS, this.#opts.raceMaxDelayMs, this.#opts.raceCurve);
      delayMs += group.rank(key, how.allocate) * this.#opts.raceStepMs;
    }
    if (delayMs < IMMEDIATE_BELOW_MS) {
      this.#deliver(answer);
      return;
    }
    if (!this.#queue.push(answer, delayMs)) {
      this.#metrics.count('dropped-queue-full');
      return;
    }
    this.#pending.set(key, answer);
  }

  #deliver(a: PendingAnswer): void {
    if (this.#closed || a.canceled) return;
    if (this.#pending.get(a.key) === a) this.#pending.delete(a.key);
    if (a.allocate && this.#deps.drain.isDraining) {
      this.#metrics.count('silent-draining'); // drained while the answer was waiting
      return;
    }
    // From here on this relay has decided the request: the peers stand down, whether it is answered or dropped.
    this.#deps.group?.claim(a.clientAddress, a.clientPort, a.transactionId, a.requestHash);
    if (a.unauthenticated) {
      if (this.#deps.limiter.take(a.clientAddress) !== 'ok') {
        this.#metrics.count('dropped-rate-limit');
        return;
      }
      if (!this.#deps.budget.trySpend(a.data.length, a.retransmission)) {
        this.#metrics.count('dropped-budget');
        return;
      }
    }
    this.#send(a.transport, a.data, a.clientAddress, a.clientPort, a.kind);
  }

  /** Whether `key` was seen in the last two generations of SEEN_GENERATION requests; remembers it. */
  #sawBefore(key: string): boolean {
    if (this.#seen.has(key) || this.#seenBefore.has(key)) return true;
    if (this.#seen.size >= SEEN_GENERATION) {
      this.#seenBefore = this.#seen;
      this.#seen = new Set();
    }
    this.#seen.add(key);
    return false;
  }

  #send(transport: ClientTransport, data: Buffer, clientAddress: string, clientPort: number, kind: AnswerKind): void {
    try {
      transport.send(data, clientAddress, clientPort);
    } catch {
      // a transport never throws by contract; a closed socket must not break the caller
      return;
    }
    this.#metrics.bytesOut += data.length;
    this.#metrics.count(kind);
  }
}

/**
 * Race delays shorter than this are not queued: a timer cannot fire sooner than ~1 ms later anyway (libuv's clock
 * has 1 ms granularity), so queueing would only add jitter to the least-loaded relay's answer.
 */
const IMMEDIATE_BELOW_MS = 1;

type ErrorAnswer = 400 | 401 | 437 | 438;
const ERROR_KIND = { 400: '400', 401: '401', 437: '437', 438: '438' } as const satisfies Record<ErrorAnswer, AnswerKind>;
