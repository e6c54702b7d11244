/**
 * Anycast metrics. The responder counts into plain numbers (hot path: one array increment); prom-client reads
 * them at scrape time:
 *
 *   anyturn_anycast_answers_total{kind}     what happened to each message on G (fixed set below)
 *   anyturn_anycast_bytes_total{direction}  bytes received on G (in) and answered from G (out): out/in is the
 *                                           reflection ratio actually seen
 *   anyturn_load_score                      the race's load score in [0, 1]
 *   anyturn_load_component{component}       allocations, bandwidth, lag (each in [0, 1])
 *   anyturn_anycast_draining                1 while draining
 *   anyturn_anycast_pending                 delayed answers waiting in the race queue
 *   anyturn_anycast_budget_bytes            balance of the byte budget of unauthenticated answers
 *   anyturn_race_group_peers                other relays heard in the PoP's race group
 *   anyturn_race_group_messages_total{event} race group traffic: presences and claims sent/received, drops
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { LOAD_COMPONENTS, type LoadComponents } from './load-score.js';
import { RACE_GROUP_EVENTS, type RaceGroupEvent } from './race-group.js';

/** What the responder did with one message on G. Fixed set (metric label values). */
export const ANSWER_KINDS = [
  'binding', // Binding success response sent
  '300', // Try Alternate sent
  '401', // challenge (or bad credentials) sent
  '438', // stale nonce sent
  '437', // Refresh / CreatePermission / ChannelBind / Connect / ConnectionBind on G
  '400', // authenticated Allocate missing USERNAME, REALM or NONCE
  'dropped-rate-limit', // a per-source or global bucket was empty
  'dropped-budget', // the byte budget of unauthenticated answers did not cover the answer (answer-budget.ts)
  'dropped-queue-full', // the race queue was full
  'dropped-indication', // Send (or any) indication on G
  'dropped-channel-data', // ChannelData on G
  'dropped-invalid', // responses, unknown methods, Allocate without REQUESTED-TRANSPORT, unknown attributes
  'dropped-no-alternate', // no unicast address of the client's transport and family to redirect to
  'silent-full', // load score >= 1
  'silent-draining', // draining
  'silent-not-chosen', // --race single: another relay answers this flow
  'silent-claimed', // a relay ranked before this one in the race group answered (its claim cancelled ours)
] as const;
export type AnswerKind = (typeof ANSWER_KINDS)[number];

const KIND_INDEX: ReadonlyMap<string, number> = new Map(ANSWER_KINDS.map((k, i) => [k, i]));

export class AnycastMetrics {
  /** Bytes of messages received on G (everything handed to the responder). */
  bytesIn = 0;
  /** Bytes of answers sent from G. */
  bytesOut = 0;
  readonly #counts = new Float64Array(ANSWER_KINDS.length);

  count(kind: AnswerKind): void {
    this.#counts[KIND_INDEX.get(kind)!] += 1;
  }

  /** How many times `kind` happened (tests, /status). */
  get(kind: AnswerKind): number {
    return this.#counts[KIND_INDEX.get(kind)!];
  }

  /** Every kind with its count. */
  snapshot(): Record<AnswerKind, number> {
    const out = {} as Record<AnswerKind, number>;
    ANSWER_KINDS.forEach((k, i) => {
      out[k] = this.#counts[i];
    });
    return out;
  }
}

export interface AnycastMetricSources {
  metrics: AnycastMetrics;
  load: { score(): number; components?(): LoadComponents };
  drain: { readonly isDraining: boolean };
  pending?: () => number;
  budget?: { readonly balance: number };
  group?: { readonly peers: number; count(event: RaceGroupEvent): number };
}

/** Registers the anycast metrics in `registry` (once per registry). */
export function registerAnycastMetrics(registry: Registry, sources: AnycastMetricSources): void {
  const registers = [registry];
  const { metrics, load, drain } = sources;
  new Counter({
    name: 'anyturn_anycast_answers_total',
    help: 'Messages received on the anycast address, by what the relay did with them',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      for (const kind of ANSWER_KINDS) this.inc({ kind }, metrics.get(kind));
    },
  });
  new Counter({
    name: 'anyturn_anycast_bytes_total',
    help: 'Bytes received on (in) and answered from (out) the anycast address',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, metrics.bytesIn);
      this.inc({ direction: 'out' }, metrics.bytesOut);
    },
  });
  new Gauge({
    name: 'anyturn_load_score',
    help: 'Load score in [0, 1] driving the anycast race (1 = full: no answer on the anycast address)',
    registers,
    collect() {
      this.set(load.score());
    },
  });
  if (load.components !== undefined) {
    const components = load.components.bind(load);
    new Gauge({
      name: 'anyturn_load_component',
      help: 'Components of the load score, each in [0, 1]',
      labelNames: ['component'],
      registers,
      collect() {
        const c = components();
        for (const component of LOAD_COMPONENTS) this.set({ component }, c[component]);
      },
    });
  }
  new Gauge({
    name: 'anyturn_anycast_draining',
    help: '1 while the relay is draining (no Allocate answered on the anycast address)',
    registers,
    collect() {
      this.set(drain.isDraining ? 1 : 0);
    },
  });
  if (sources.pending !== undefined) {
    const pending = sources.pending;
    new Gauge({
      name: 'anyturn_anycast_pending',
      help: 'Delayed anycast answers waiting in the race queue',
      registers,
      collect() {
        this.set(pending());
      },
    });
  }
  if (sources.budget !== undefined) {
    const budget = sources.budget;
    new Gauge({
      name: 'anyturn_anycast_budget_bytes',
      help: 'Balance of the byte budget of unauthenticated answers on the anycast address',
      registers,
      collect() {
        this.set(budget.balance);
      },
    });
  }
  if (sources.group !== undefined) {
    const group = sources.group;
    new Gauge({
      name: 'anyturn_race_group_peers',
      help: 'Other relays heard in the PoP race group (0: this relay races alone)',
      registers,
      collect() {
        this.set(group.peers);
      },
    });
    new Counter({
      name: 'anyturn_race_group_messages_total',
      help: 'Race group messages: presences and claims sent and received, and dropped ones by reason',
      labelNames: ['event'],
      registers,
      collect() {
        this.reset();
        for (const event of RACE_GROUP_EVENTS) this.inc({ event }, group.count(event));
      },
    });
  }
}
