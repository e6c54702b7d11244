/**
 * AnycastResponder: what a relay does with a STUN request that arrived on the anycast address G (DESIGN.md,
 * "The path of one client", step 3). Every reply leaves through the same ClientTransport, i.e. from G:port.
 *
 *   Binding                  answered at once (XOR-MAPPED-ADDRESS), also while full or draining.
 *   Allocate, unauthenticated
 *     strict (default)       401 + REALM + NONCE (fleet-wide stateless nonce), at once (RFC 8489 §9.2)
 *     fast                   300 Try Alternate + ALTERNATE-SERVER + REALM + NONCE, after the race delay
 *   Allocate, authenticated  MI valid: 300 + ALTERNATE-SERVER + MESSAGE-INTEGRITY(-SHA256, as the request) after
 *                            the race delay (RFC 8489 §10 / §14.8); stale nonce: 438; anything else wrong: 401
 *   Refresh, CreatePermission, ChannelBind, Connect, ConnectionBind: 437 (no allocation ever lives on G)
 *   indications, ChannelData, responses, unknown methods: dropped and counted
 *
 * The race (US 9,426,055): the 300 is sent after raceDelayMs(load score), so the least-loaded relay's 300 is the
 * first the client sees; a full (score >= 1) or draining relay sends nothing for an Allocate. With `race: single`
 * only the relay chosen by weighted rendezvous hashing over the flow answers (at once). TCP/TLS to G reach one
 * relay only (ECMP), so there is no race there: the 300 goes out at once and a full/draining relay redirects to
 * the least-loaded other relay of the directory, if it knows one.
 *
 * Amplification: everything sent over UDP without proof of credentials (Binding, 401, 438, 437, 400, the fast 300)
 * takes a token from the per-source and global buckets (rate-limit.ts); TCP/TLS sources cannot be spoofed. Answers carry only what the client needs: no
 * SOFTWARE, empty reason phrases, FINGERPRINT only when the request had one. See docs/anycast.md for the bound.
 *
 * Hot path: no throw, no await, no emit, no per-packet logging; one copy of each answer (the transport may send it
 * later).
 */
import type { Clock } from '../../src/clock.js';
import type { CredentialStore } from '../../src/auth/credential-store.js';
import type { NonceService } from '../../src/auth/nonce.js';
import type { RaceCurve, RaceMode, RedirectMode } from '../../src/config/schema.js';
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  integrityKind,
  readString,
  verifyFingerprint,
  verifyIntegrity,
  type StunMessage,
  type TransportAddress,
} from '../../src/stun/index.js';
import type { ClientTransport } from '../turn/client-transport.js';
import { familyOf } from '../turn/five-tuple.js';
import { DelayQueue, type Timers } from './delay-queue.js';
import type { LoadProvider } from './load-monitor.js';
import type { AnswerKind, AnycastMetrics } from './metrics.js';
import { raceDecision } from './race-delay.js';
import type { SourceRateLimiter } from './rate-limit.js';
import {
  alternateKey,
  fallbackRelay,
  flowKey,
  singleResponder,
  type AlternateServers,
  type RelayDirectory,
} from './single-responder.js';


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
  /** This relay's id (`--id`): its name in the RelayDirectory. */
  relayId: string;
  /** This relay's unicast addresses by transport and family: the ALTERNATE-SERVER of its 300s. */
  alternates: AlternateServers;
  /** Most delayed answers pending at once (default 4096). */
  maxPending?: number;
}

export interface AnycastResponderDeps {
  credentials: CredentialStore;
  nonces: NonceService;
  clock: Clock;
  log: Logger;
  load: LoadProvider;
  drain: { readonly isDraining: boolean };
  limiter: SourceRateLimiter;
  metrics: AnycastMetrics;
  /** The PoP's live relays; required with `race: single`, used for stream fallbacks when given. */
  directory?: RelayDirectory;
  timers?: Timers;
}

interface PendingAnswer {
  transport: ClientTransport;
  data: Buffer;
  clientAddress: string;
  clientPort: number;
}

type Credentialed = { kind: 'ok'; key: Buffer } | { kind: 'error'; code: 400 | 401 | 438 };

export class AnycastResponder {
  readonly #opts: AnycastResponderOptions;
  readonly #deps: AnycastResponderDeps;
  readonly #metrics: AnycastMetrics;
  readonly #writer = new StunWriter();
  readonly #queue: DelayQueue<PendingAnswer>;
  #closed = false;

  constructor(options: AnycastResponderOptions, deps: AnycastResponderDeps) {
    if (options.race === 'single' && deps.directory === undefined) {
      throw new AnyturnError('ATN_ERR_CONFIG_INVALID', '--race single needs a relay directory');
    }
    this.#opts = { ...options, alternates: { ...options.alternates } };
    this.#deps = deps;
    this.#metrics = deps.metrics;
    this.#queue = new DelayQueue<PendingAnswer>(
      { capacity: options.maxPending ?? 4096 },
      { clock: deps.clock, timers: deps.timers, deliver: (a) => this.#deliver(a) },
    );
    deps.log.info(
      {
        redirect: options.redirect,
        race: options.race,
        raceMaxDelayMs: options.raceMaxDelayMs,
        raceCurve: options.raceCurve,
        alternates: Object.keys(options.alternates),
      },
      'anycast responder ready',
    );
  }

  /** Delayed answers waiting for their race delay. */
  get pending(): number {
    return this.#queue.size;
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
        if (!this.#allowed(transport, clientAddress)) return;
        this.#sendError(transport, msg, 437, clientAddress, clientPort);
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

  /** Drops the pending answers; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.close();
  }

  #binding(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void {
    if (!this.#allowed(transport, clientAddress)) return;
    const w = this.#writer.reset(Method.Binding, StunClass.SuccessResponse, msg.transactionId);
    w.addXorAddress(Attr.XOR_MAPPED_ADDRESS, { family: familyOf(clientAddress), address: clientAddress, port: clientPort });
    if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
    this.#send(transport, w.toBuffer(), clientAddress, clientPort, 'binding');
  }

  #allocate(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void {
    if (!msg.has(Attr.REQUESTED_TRANSPORT)) {
      this.#metrics.count('dropped-invalid');
      return;
    }
    const stream = transport.protocol !== 'udp';
    const key = alternateKey(transport.protocol, familyOf(clientAddress));
    const draining = this.#deps.drain.isDraining;
    const decision = raceDecision(this.#deps.load.score(), draining, this.#opts.raceMaxDelayMs, this.#opts.raceCurve);
    let alternate: TransportAddress | undefined = this.#opts.alternates[key];
    let delayMs = 0;
    if (decision.kind === 'silent') {
      const other = stream && this.#deps.directory ? fallbackRelay(this.#deps.directory.relays(), this.#opts.relayId, key) : undefined;
      if (other === undefined) {
        this.#metrics.count(decision.reason === 'full' ? 'silent-full' : 'silent-draining');
        return;
      }
      alternate = other.address;
    } else if (!stream && this.#opts.race === 'race') {
      delayMs = decision.delayMs;
    }
    if (!this.#mayAnswer(transport, clientAddress, clientPort)) return;
    if (alternate === undefined) {
      this.#metrics.count('dropped-no-alternate');
      return;
    }

    const authenticated = integrityKind(msg) !== undefined;
    if (!authenticated) {
      if (!this.#allowed(transport, clientAddress)) return;
      if (this.#opts.redirect === 'strict') {
        this.#sendError(transport, msg, 401, clientAddress, clientPort);
        return;
      }
      const w = this.#writer.reset(Method.Allocate, StunClass.ErrorResponse, msg.transactionId);
      w.addErrorCode(300, '').addAddress(Attr.ALTERNATE_SERVER, alternate);
      w.addString(Attr.REALM, this.#opts.realm).addString(Attr.NONCE, this.#deps.nonces.issue());
      if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
      this.#sendRaced(transport, w.toBuffer(), clientAddress, clientPort, delayMs);
      return;
    }

    const cred = this.#credentials(msg);
    if (cred.kind === 'error') {
      if (!this.#allowed(transport, clientAddress)) return;
      this.#sendError(transport, msg, cred.code, clientAddress, clientPort);
      return;
    }
    const w = this.#writer.reset(Method.Allocate, StunClass.ErrorResponse, msg.transactionId);
    w.addErrorCode(300, '').addAddress(Attr.ALTERNATE_SERVER, alternate);
    if (integrityKind(msg) === 'sha256') w.addMessageIntegritySha256(cred.key);
    else w.addMessageIntegrity(cred.key);
    if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
    this.#sendRaced(transport, w.toBuffer(), clientAddress, clientPort, delayMs);
  }

  /** RFC 8489 §9.2.4 for a request carrying MESSAGE-INTEGRITY(-SHA256). */
  #credentials(msg: StunMessage): Credentialed {
    const username = readString(msg, Attr.USERNAME);
    const realm = readString(msg, Attr.REALM);
    const nonce = readString(msg, Attr.NONCE);
    if (typeof username !== 'string' || typeof realm !== 'string' || typeof nonce !== 'string') {
      return { kind: 'error', code: 400 };
    }
    const nonceCheck = this.#deps.nonces.check(nonce);
    if (nonceCheck === 'stale') return { kind: 'error', code: 438 };
    if (nonceCheck !== 'ok' || realm !== this.#opts.realm) return { kind: 'error', code: 401 };
    const keys = this.#deps.credentials.keysFor(username, realm, this.#deps.clock.now());
    for (const key of keys) {
      if (verifyIntegrity(msg, key) === 'ok') return { kind: 'ok', key };
    }
    return { kind: 'error', code: 401 };
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

  /** Only UDP can be spoofed (a TCP/TLS client completed a handshake): streams are not rate-limited. */
  #allowed(transport: ClientTransport, clientAddress: string): boolean {
    if (transport.protocol !== 'udp') return true;
    if (this.#deps.limiter.take(clientAddress) === 'ok') return true;
    this.#metrics.count('dropped-rate-limit');
    return false;
  }

  /** 400 / 401 / 437 / 438 with an empty reason phrase; 401 and 438 carry REALM and a fresh NONCE. */
  #sendError(
    transport: ClientTransport,
    msg: StunMessage,
    code: 400 | 401 | 437 | 438,
    clientAddress: string,
    clientPort: number,
  ): void {
    const w = this.#writer.reset(msg.method, StunClass.ErrorResponse, msg.transactionId);
    w.addErrorCode(code, '');
    if (code === 401 || code === 438) {
      w.addString(Attr.REALM, this.#opts.realm).addString(Attr.NONCE, this.#deps.nonces.issue());
    }
    if (msg.has(Attr.FINGERPRINT)) w.addFingerprint();
    this.#send(transport, w.toBuffer(), clientAddress, clientPort, ERROR_KIND[code]);
  }

  #sendRaced(transport: ClientTransport, data: Buffer, clientAddress: string, clientPort: number, delayMs: number): void {
    if (delayMs < IMMEDIATE_BELOW_MS) {
      this.#send(transport, data, clientAddress, clientPort, '300');
      return;
    }
    if (!this.#queue.push({ transport, data, clientAddress, clientPort }, delayMs)) {
      this.#metrics.count('dropped-queue-full');
    }
  }

  #deliver(a: PendingAnswer): void {
    if (this.#closed) return;
    if (this.#deps.drain.isDraining) {
      this.#metrics.count('silent-draining'); // drained while the answer was waiting
      return;
    }
    this.#send(a.transport, a.data, a.clientAddress, a.clientPort, '300');
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

const ERROR_KIND = { 400: '400', 401: '401', 437: '437', 438: '438' } as const satisfies Record<number, AnswerKind>;
