/**
 * Relay health: a STUN Binding request over UDP to each relay's unicast address every
 * interval. `failures` consecutive unanswered probes make a relay unhealthy, `rise`
 * consecutive answers make it healthy again. A missed probe is followed at once by the
 * next one (fast fall): a dead relay is unhealthy after about interval/2 + failures ×
 * timeout on average (1.5-2.5 s with the defaults 1000/500/3), not failures × interval. A state change is an event (`change`):
 * the LAN reconcile and, later, the BGP driver subscribe to it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { systemClock, type Clock } from '../src/clock.js';
import { TypedEmitter } from '../src/events.js';
import type { Logger } from '../src/log.js';
import { decodeStun, isStunMessage, Method, newTransactionId, StunClass, StunWriter } from '../src/stun/index.js';

export type RelayHealthState = 'unknown' | 'healthy' | 'unhealthy';

export interface HealthTarget {
  id: string;
  address: string;
  port: number;
}

export interface HealthOptions {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failed probes before a relay is unhealthy. */
  failures: number;
  /** Consecutive answered probes before an unknown/unhealthy relay is healthy. */
  rise: number;
}

export interface RelayStatus {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly state: RelayHealthState;
  readonly consecutiveFailures: number;
  readonly consecutiveSuccesses: number;
  /** Round-trip time of the last answered probe, ms. */
  readonly rttMs: number | undefined;
  /** When the state last changed (clock ms). */
  readonly since: number;
}

export type RelayHealthEvents = {
  change: [status: RelayStatus, previous: RelayHealthState];
};

interface Tracked {
  target: HealthTarget;
  status: RelayStatus;
  inFlight: boolean;
}

interface Pending {
  tracked: Tracked;
  sentAt: number;
  timer: NodeJS.Timeout;
  done: (answered: boolean) => void;
}

export class RelayHealth extends TypedEmitter<RelayHealthEvents> {
  readonly #options: HealthOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #tracked: Tracked[];
  readonly #pending = new Map<string, Pending>();
  readonly #writer = new StunWriter(Buffer.alloc(64));
  #sockets: { 4?: Socket; 6?: Socket } = {};
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(targets: readonly HealthTarget[], options: HealthOptions, deps: { log: Logger; clock?: Clock }) {
    super();
    this.#options = options;
    this.#log = deps.log;
    this.logListenerErrorsTo(this.#log);
    this.#clock = deps.clock ?? systemClock;
    const now = this.#clock.now();
    this.#tracked = targets.map((target) => ({
      target,
      inFlight: false,
      status: { ...target, state: 'unknown', consecutiveFailures: 0, consecutiveSuccesses: 0, rttMs: undefined, since: now },
    }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  statuses(): RelayStatus[] {
    return this.#tracked.map((t) => t.status);
  }

  healthyIds(): Set<string> {
    return new Set(this.#tracked.filter((t) => t.status.state === 'healthy').map((t) => t.target.id));
  }

  /** Probes now and then every interval. */
  start(): void {
    if (this.#closed || this.#timer) return;
    void this.probeRound();
    this.#timer = setInterval(() => void this.probeRound(), this.#options.intervalMs);
  }

  /**
   * One probe to every relay that has none in flight; resolves when each has been
   * answered or has timed out.
   */
  async probeRound(): Promise<void> {
    await Promise.all(this.#tracked.filter((t) => !t.inFlight).map((t) => this.#probe(t)));
  }

  /**
   * Probes back to back until every relay has left `unknown` (at most max(failures, rise)
   * rounds): what `anyturn agent --once` uses instead of the timer.
   */
  async settle(): Promise<void> {
    const rounds = Math.max(this.#options.failures, this.#options.rise);
    for (let i = 0; i < rounds && !this.#closed; i++) {
      await this.probeRound();
      if (this.#tracked.every((t) => t.status.state !== 'unknown')) return;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.done(false);
    }
    this.#pending.clear();
    for (const s of Object.values(this.#sockets)) s?.close();
    this.#sockets = {};
  }

  #probe(t: Tracked): Promise<void> {
    if (this.#closed) return Promise.resolve();
    t.inFlight = true;
    return new Promise<boolean>((resolve) => {
      const tid = newTransactionId();
      const key = tid.toString('hex');
      const pending: Pending = {
        tracked: t,
        sentAt: this.#clock.now(),
        timer: setTimeout(() => {
          this.#pending.delete(key);
          resolve(false);
        }, this.#options.timeoutMs),
        done: resolve,
      };
      this.#pending.set(key, pending);
      const request = this.#writer.reset(Method.Binding, StunClass.Request, tid).toBuffer();
      this.#socket(isIP(t.target.address) === 6 ? 6 : 4).send(request, t.target.port, t.target.address, (err) => {
        if (err && this.#pending.delete(key)) {
          clearTimeout(pending.timer);
          this.#log.debug({ relay: t.target.id, err: err.message }, 'health probe not sent');
          resolve(false);
        }
      });
    }).then((answered) => {
      t.inFlight = false;
      if (this.#closed) return;
      this.#record(t, answered);
      // Fast fall: while running, a relay that missed a probe but is not unhealthy yet is probed
      // again at once, so a dead relay is detected after about `failures` × timeout, not × interval.
      if (!answered && this.#timer && t.status.state !== 'unhealthy') void this.#probe(t);
    });
  }

  #socket(family: 4 | 6): Socket {
    let socket = this.#sockets[family];
    if (!socket) {
      socket = createSocket(family === 6 ? 'udp6' : 'udp4');
      socket.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo.address, rinfo.port));
      socket.on('error', (err) => this.#log.warn({ err: err.message }, 'health socket error'));
      this.#sockets[family] = socket;
    }
    return socket;
  }

  #onMessage(msg: Buffer, address: string, port: number): void {
    const decoded = decodeStun(msg);
    if (!isStunMessage(decoded) || decoded.method !== Method.Binding) return;
    if (decoded.cls !== StunClass.SuccessResponse && decoded.cls !== StunClass.ErrorResponse) return;
    const key = decoded.transactionId.toString('hex');
    const pending = this.#pending.get(key);
    if (!pending) return;
    const target = pending.tracked.target;
    if (address.replace(/^::ffff:/, '') !== target.address || port !== target.port) return;
    this.#pending.delete(key);
    clearTimeout(pending.timer);
    pending.tracked.status = { ...pending.tracked.status, rttMs: this.#clock.now() - pending.sentAt };
    pending.done(true);
  }

  #record(t: Tracked, answered: boolean): void {
    const s = t.status;
    const successes = answered ? s.consecutiveSuccesses + 1 : 0;
    const failures = answered ? 0 : s.consecutiveFailures + 1;
    let state: RelayHealthState = s.state;
    if (answered && s.state !== 'healthy' && successes >= this.#options.rise) state = 'healthy';
    if (!answered && s.state !== 'unhealthy' && failures >= this.#options.failures) state = 'unhealthy';
    const changed = state !== s.state;
    t.status = {
      ...s,
      state,
      consecutiveFailures: failures,
      consecutiveSuccesses: successes,
      since: changed ? this.#clock.now() : s.since,
    };
    if (changed) {
      this.#log.info({ relay: t.target.id, state, previous: s.state }, 'relay health changed');
      this.safeEmit('change', t.status, s.state);
    }
  }
}
