/**
 * The race group: the relays of one PoP LAN, talking to each other over IP multicast (TTL 1) so that exactly one
 * of them answers each request on the anycast address (issue: one answer per race).
 *
 *   Presence  every PRESENCE_MS, and at once (at most every MIN_GAP_MS) when this relay's load step, draining or
 *             full state changes: who is in the race and at which load step. A relay not heard for EXPIRE_MS is out. A relay heard for the first time
 *             gets our presence at once, so a (re)started relay knows its peers within a round trip.
 *
 * Every relay must rank a request on the same numbers, or two of them both think they come first. So a change
 * of state takes effect SWITCH_MS after the presence that announced it was sent (its sentAt), on the sender and on
 * every receiver alike, by then all of them have it; and the load step moves only when the score leaves the
 * current step by more than STEP_HYSTERESIS (the event-loop lag in the score is noisy).
 *   Claim     sent by the relay that answers a request: the peers drop their pending (later-ranked) answer to it.
 *
 * Messages are authenticated with a key derived from the fleet nonce key (race-wire.ts); anything else on the
 * group port is counted and dropped. If the group cannot be joined (no IPv4 unicast listen address, multicast
 * refused), the relay runs the race alone: every relay answers after its load delay, as before the group existed.
 */
import dgram from 'node:dgram';
import type { Clock } from '../../src/clock.js';
import type { Logger } from '../../src/log.js';
import { systemTimers, type Timers } from './delay-queue.js';
import { loadStepOf, raceRank, type RaceCandidate } from './race-rank.js';
import { decodeRaceMessage, encodeClaim, encodePresence, groupKeyOf, RaceMessageType, type Claim } from './race-wire.js';
import { LOAD_STEPS } from './single-responder.js';

export const PRESENCE_MS = 200;
export const EXPIRE_MS = 1_000;
/** A state announced in a presence is used for ranking from sentAt + SWITCH_MS on. */
export const SWITCH_MS = 100;
/** How far (in load score) beyond its step the score must go before the advertised step follows. */
export const STEP_HYSTERESIS = 0.02;
/** Least time between two presences sent because the state changed. */
export const MIN_GAP_MS = 20;

export interface RaceGroupOptions {
  /** This relay's id (`--id`). */
  id: string;
  /** Multicast group and port (`--race-group`). */
  group: string;
  port: number;
  /** The local IPv4 address of the LAN interface (this relay's unicast listen address). */
  interfaceAddress: string;
}

export interface RaceGroupDeps {
  clock: Clock;
  log: Logger;
  /** Current fleet keys, current first (NonceService.keys()). */
  fleetKeys(): readonly Buffer[];
  /** This relay's race state. */
  state(): { score: number; draining: boolean };
  /** A peer claimed a request. */
  onClaim(claim: Claim): void;
  timers?: Timers;
}

export const RACE_GROUP_EVENTS = [
  'presence-sent',
  'presence-received',
  'claim-sent',
  'claim-received',
  'dropped-malformed',
  'dropped-mac',
  'dropped-stale',
  'send-failed',
] as const;
export type RaceGroupEvent = (typeof RACE_GROUP_EVENTS)[number];

interface RaceState {
  readonly loadStep: number;
  readonly eligible: boolean;
}

/** A relay's announced state: `current`, then `next` from `nextAt` on (SWITCH_MS after it was sent). */
class Member {
  next: RaceState | undefined;
  nextAt = 0;
  constructor(
    readonly id: string,
    public current: RaceState,
    public lastSeen: number,
  ) {}

  announce(state: RaceState, sentAt: number): void {
    if (this.next !== undefined) this.current = this.next; // an earlier announcement is due by now
    this.next = state;
    this.nextAt = sentAt + SWITCH_MS;
  }

  /** The state to rank on at `now`. */
  at(now: number): RaceState {
    if (this.next !== undefined && now >= this.nextAt) {
      this.current = this.next;
      this.next = undefined;
    }
    return this.current;
  }
}

export class RaceGroup {
  readonly #opts: RaceGroupOptions;
  readonly #deps: RaceGroupDeps;
  readonly #timers: Timers;
  readonly #members = new Map<string, Member>();
  readonly #counts = new Map<RaceGroupEvent, number>(RACE_GROUP_EVENTS.map((e) => [e, 0]));
  #socket: dgram.Socket | undefined;
  #timer: unknown;
  #keySource: Buffer | undefined;
  #keys: Buffer[] = [];
  /** What this relay told the group: its own entry in the ranking (everyone ranks on the same numbers). */
  readonly #self: Member;
  /** The last state announced (the hysteresis works from it). */
  #announced: RaceState = { loadStep: 0, eligible: true };
  #lastPresenceAt = -Infinity;
  #closed = false;

  constructor(options: RaceGroupOptions, deps: RaceGroupDeps) {
    this.#opts = options;
    this.#deps = deps;
    this.#timers = deps.timers ?? systemTimers;
    this.#self = new Member(options.id, this.#announced, 0);
  }

  /** Joins the group; resolves false (and logs why) when it cannot, the relay then races alone. */
  async start(): Promise<boolean> {
    const { group, port, interfaceAddress } = this.#opts;
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ port, address: group, exclusive: false }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      socket.addMembership(group, interfaceAddress);
      socket.setMulticastInterface(interfaceAddress);
      socket.setMulticastTTL(1);
      socket.setMulticastLoopback(true); // relays sharing a host hear each other (our own messages are ignored)
    } catch (err) {
      socket.close();
      this.#deps.log.warn(
        { group: `${group}:${port}`, interface: interfaceAddress, err: (err as Error).message },
        'race group not joined: every relay of the PoP may answer a request on the anycast address',
      );
      return false;
    }
    socket.on('message', (buf) => this.#onMessage(buf));
    socket.on('error', (err) => this.#deps.log.warn({ err: err.message }, 'race group socket error'));
    this.#socket = socket;
    this.#deps.log.info({ group: `${group}:${port}`, interface: interfaceAddress }, 'race group joined');
    this.#tick();
    return true;
  }

  /** Live peers (other relays heard within EXPIRE_MS). */
  get peers(): number {
    this.#expire();
    return this.#members.size;
  }

  /** How many relays answer `requestKey` before this one. `allocate`: only relays that are neither full nor draining. */
  rank(requestKey: string, allocate: boolean): number {
    if (this.#members.size === 0) return 0;
    this.#expire();
    const now = this.#deps.clock.now();
    const self = this.#self.at(now);
    const others: RaceCandidate[] = [];
    for (const m of this.#members.values()) {
      const state = m.at(now);
      if (!allocate || state.eligible) others.push({ id: m.id, loadStep: state.loadStep });
    }
    return raceRank(requestKey, { id: this.#opts.id, loadStep: self.loadStep }, others);
  }

  /** This relay's load step as the group ranks it now (what it announced). */
  get loadStep(): number {
    return this.#self.at(this.#deps.clock.now()).loadStep;
  }

  /** Tells the peers that this relay answered the request. */
  claim(clientAddress: string, clientPort: number, transactionId: Buffer, requestHash: number): void {
    if (this.#socket === undefined || this.#members.size === 0) return;
    const key = this.#key();
    if (key === undefined) return;
    this.#send(encodeClaim({ sender: this.#opts.id, sentAt: this.#deps.clock.now(), clientAddress, clientPort, transactionId, requestHash }, key), 'claim-sent');
  }

  /** Sends a presence now if this relay's state changed since the last one (a load step change at most every MIN_GAP_MS). */
  refresh(): void {
    const state = this.#state();
    if (state.eligible !== this.#announced.eligible) this.#presence();
    else if (state.loadStep !== this.#announced.loadStep && this.#deps.clock.now() - this.#lastPresenceAt >= MIN_GAP_MS) this.#presence();
  }

  /** Counters of the group's traffic (metrics). */
  count(event: RaceGroupEvent): number {
    return this.#counts.get(event) ?? 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#socket?.close();
    this.#socket = undefined;
    this.#members.clear();
  }

  #tick(): void {
    if (this.#closed) return;
    this.#presence();
    this.#expire();
    this.#timer = this.#timers.setTimeout(() => this.#tick(), PRESENCE_MS);
  }

  /** This relay's state now: the load step with hysteresis around the announced one. */
  #state(): RaceState & { draining: boolean; full: boolean } {
    const s = this.#deps.state();
    const score = s.score > 0 ? s.score : 0;
    const was = this.#announced.loadStep;
    const inside = score >= was / LOAD_STEPS - STEP_HYSTERESIS && score < (was + 1) / LOAD_STEPS + STEP_HYSTERESIS;
    const loadStep = inside && was < LOAD_STEPS && score < 1 ? was : loadStepOf(score);
    const full = loadStep >= LOAD_STEPS;
    return { loadStep, eligible: !s.draining && !full, draining: s.draining, full };
  }

  #presence(): void {
    const key = this.#key();
    if (this.#socket === undefined || key === undefined) return;
    const state = this.#state();
    const sentAt = this.#deps.clock.now();
    this.#lastPresenceAt = sentAt;
    if (state.loadStep !== this.#announced.loadStep || state.eligible !== this.#announced.eligible) {
      this.#announced = { loadStep: state.loadStep, eligible: state.eligible };
      this.#self.announce(this.#announced, sentAt);
    }
    const buf = encodePresence({ sender: this.#opts.id, sentAt, loadStep: state.loadStep, draining: state.draining, full: state.full }, key);
    this.#send(buf, 'presence-sent');
  }

  #send(buf: Buffer, event: RaceGroupEvent): void {
    try {
      this.#socket?.send(buf, this.#opts.port, this.#opts.group, (err) => {
        if (err) this.#bump('send-failed');
      });
      this.#bump(event);
    } catch {
      this.#bump('send-failed');
    }
  }

  #onMessage(buf: Buffer): void {
    const now = this.#deps.clock.now();
    this.#key(); // keys follow the fleet key
    const m = decodeRaceMessage(buf, this.#keys, now);
    if (typeof m === 'string') {
      this.#bump(m === 'mac' ? 'dropped-mac' : m === 'stale' ? 'dropped-stale' : 'dropped-malformed');
      return;
    }
    if (m.sender === this.#opts.id) return; // our own, looped back
    if (m.type === RaceMessageType.Presence) {
      this.#bump('presence-received');
      const state: RaceState = { loadStep: m.loadStep, eligible: !m.draining && !m.full };
      const member = this.#members.get(m.sender);
      if (member === undefined) {
        this.#members.set(m.sender, new Member(m.sender, state, now));
        this.#presence(); // a newcomer learns about us at once
        return;
      }
      member.lastSeen = now;
      const known = member.next ?? member.current;
      if (known.loadStep !== state.loadStep || known.eligible !== state.eligible) member.announce(state, m.sentAt);
      return;
    }
    this.#bump('claim-received');
    this.#deps.onClaim(m);
  }

  #expire(): void {
    const cutoff = this.#deps.clock.now() - EXPIRE_MS;
    for (const [id, m] of this.#members) if (m.lastSeen < cutoff) this.#members.delete(id);
  }

  /** The current group key (derived once per fleet key); undefined without a fleet key. */
  #key(): Buffer | undefined {
    const fleet = this.#deps.fleetKeys();
    const current = fleet[0];
    if (current === undefined) return undefined;
    if (current !== this.#keySource) {
      this.#keySource = current;
      this.#keys = fleet.map(groupKeyOf);
    }
    return this.#keys[0];
  }

  #bump(event: RaceGroupEvent): void {
    this.#counts.set(event, (this.#counts.get(event) ?? 0) + 1);
  }
}
