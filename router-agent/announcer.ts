/**
 * The BGP loop of the router agent: relay health (the agent's own STUN probes) and relay
 * load/state (the cluster registry) -> the pure policy (policy.ts) -> BIRD (bird.ts, only
 * when the routing changes) -> the decision published in the cluster store (`anyturn
 * status`).
 *
 *   const announcer = new Announcer(options, { driver, store, relays: () => agent.relayHealth(), log, metrics });
 *   agent.on('health', () => announcer.trigger());
 *   announcer.start();
 *
 * An evaluation runs on start, on every trigger (health change), on every registry reload
 * of the store and every `intervalMs`; evaluations never overlap and a trigger during one
 * queues exactly one more. BIRD is reconfigured only when the decision routes differently
 * from what BIRD runs (announce/withdraw, prepend count); a failed reconfiguration is
 * retried on the next evaluation. Hysteresis is relative to what BIRD runs.
 *
 * The decision is published when the routing changes and again every `intervalMs`
 * (TTL 3 × intervalMs), so a dead agent's record disappears from `anyturn status`.
 *
 * Stopping (close) leaves BIRD as it is: a stopped agent does not withdraw its PoP (the
 * relays may well be serving); `withdraw()` (used by `anyturn agent --teardown`) does.
 */
import type { ClusterStore } from '../src/cluster/store.js';
import { systemClock, type Clock } from '../src/clock.js';
import { TypedEmitter } from '../src/events.js';
import type { Logger } from '../src/log.js';
import type { ApplyResult, BgpDecision } from './bird.js';
import type { BgpMetrics } from './bgp-metrics.js';
import { CoalescedRunner } from './coalesced-runner.js';
import { decide, policyRelays, sameRouting, type PolicyDecision, type PolicyThresholds } from './policy.js';

export interface AnnouncerOptions {
  pop: string;
  /** This agent's id in the cluster store. */
  agentId: string;
  /** What BIRD announces (for the published record). */
  prefixes: readonly string[];
  thresholds: PolicyThresholds;
  /** Re-evaluation and publication period, ms. */
  intervalMs: number;
}

export interface AnnouncerDeps {
  driver: { apply(decision: BgpDecision): Promise<ApplyResult> };
  store: Pick<ClusterStore, 'relay' | 'publishAnnouncement' | 'on' | 'off'>;
  /** The agent's verdict per configured relay (probes, or all healthy without health checks). */
  relays: () => readonly { id: string; healthy: boolean }[];
  log: Logger;
  metrics?: BgpMetrics;
  clock?: Clock;
}

/** What one evaluation did with BIRD: reconfigured, found it already so, kept it (same routing), failed. */
export type EvaluationOutcome = ApplyResult | 'kept' | 'failed';

export interface Evaluation {
  decision: PolicyDecision;
  outcome: EvaluationOutcome;
}

export type AnnouncerEvents = {
  /** After every evaluation. */
  evaluated: [decision: PolicyDecision, outcome: EvaluationOutcome];
  /** BIRD now routes differently (announce, withdraw, another prepend count). */
  changed: [decision: PolicyDecision, previous: PolicyDecision | undefined];
};

export class Announcer extends TypedEmitter<AnnouncerEvents> {
  readonly options: AnnouncerOptions;
  readonly #deps: AnnouncerDeps;
  readonly #log: Logger;
  readonly #clock: Clock;
  /** The decision BIRD runs with (undefined until the first successful apply). */
  #applied: PolicyDecision | undefined;
  #last: PolicyDecision | undefined;
  #publishedAt = -Infinity;
  #lastError: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #evaluations: CoalescedRunner;
  #started = false;
  #closed = false;
  readonly #onRegistry = (): void => this.trigger();

  constructor(options: AnnouncerOptions, deps: AnnouncerDeps) {
    super();
    this.options = { ...options, prefixes: [...options.prefixes] };
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'announcer' });
    this.logListenerErrorsTo(this.#log);
    this.#clock = deps.clock ?? systemClock;
    this.#evaluations = new CoalescedRunner(
      () => this.evaluate(),
      (err) => this.#log.error({ err: (err as Error).message }, 'BGP evaluation failed'),
    );
  }

  /** The decision BIRD runs with (undefined before the first successful apply). */
  get applied(): PolicyDecision | undefined {
    return this.#applied;
  }

  /** The last evaluation's decision (applied or not). */
  get last(): PolicyDecision | undefined {
    return this.#last;
  }

  /** Evaluates now, then on triggers, registry reloads and every interval, until close(). */
  start(): void {
    if (this.#closed || this.#started) return;
    this.#started = true;
    this.#deps.store.on('registry', this.#onRegistry);
    this.#timer = setInterval(() => this.trigger(), this.options.intervalMs);
    this.trigger();
  }

  /** Asks for an evaluation (coalesced with one already queued). No-op before start(). */
  trigger(): void {
    if (this.#closed || !this.#started) return;
    this.#evaluations.request();
  }

  /** Resolves when no evaluation is running or queued. */
  idle(): Promise<void> {
    return this.#evaluations.idle();
  }

  /**
   * One evaluation: decide, reconfigure BIRD if the routing changes, publish when due.
   * Never throws (a BIRD failure is logged, counted and retried next time).
   */
  async evaluate(): Promise<Evaluation> {
    const relays = policyRelays(this.#deps.relays(), (id) => this.#deps.store.relay(id));
    const decision = decide(relays, this.options.thresholds, this.#applied);
    this.#last = decision;
    this.#deps.metrics?.observeEvaluation(decision);
    const before = this.#applied;
    let outcome: EvaluationOutcome = 'kept';
    if (before === undefined || !sameRouting(decision, before)) {
      outcome = await this.#apply(decision);
    } else {
      // Same routing: keep what BIRD runs, refresh the reason and load.
      this.#applied = decision;
    }
    const routingChanged = (outcome === 'reconfigured' || outcome === 'unchanged') && (before === undefined || !sameRouting(decision, before));
    if (routingChanged || (this.#applied !== undefined && this.#clock.now() - this.#publishedAt >= this.options.intervalMs)) {
      await this.#publish();
    }
    this.safeEmit('evaluated', decision, outcome);
    if (routingChanged) this.safeEmit('changed', decision, before);
    return { decision, outcome };
  }

  /** Withdraws the prefixes now, whatever the relays say (`--teardown`). Throws when BIRD refuses. */
  async withdraw(reason: string): Promise<void> {
    await this.idle();
    const decision: PolicyDecision = {
      action: 'withdraw', prepend: 0, reason, load: this.#last?.load ?? 0, eligibleRelays: 0, healthyRelays: 0, totalRelays: 0,
    };
    const before = this.#applied;
    await this.#deps.driver.apply(decision);
    this.#applied = decision;
    this.#deps.metrics?.observeApplied(decision);
    await this.#publish();
    if (before === undefined || !sameRouting(decision, before)) this.safeEmit('changed', decision, before);
  }

  /** Stops evaluating. BIRD keeps what it runs (see the file comment). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#deps.store.off('registry', this.#onRegistry);
    await this.#evaluations.stop();
  }

  async #apply(decision: PolicyDecision): Promise<EvaluationOutcome> {
    const before = this.#applied;
    let result: ApplyResult;
    try {
      result = await this.#deps.driver.apply(decision);
    } catch (err) {
      const message = (err as Error).message;
      this.#deps.metrics?.applyFailures.inc();
      if (message !== this.#lastError) {
        this.#log.warn({ err: message, action: decision.action, prepend: decision.prepend }, 'BGP decision not applied (retried)');
      }
      this.#lastError = message;
      return 'failed';
    }
    this.#lastError = undefined;
    this.#applied = decision;
    this.#deps.metrics?.observeApplied(decision);
    this.#log.info(
      {
        action: decision.action,
        prepend: decision.prepend,
        previous: before === undefined ? undefined : { action: before.action, prepend: before.prepend },
        reason: decision.reason,
      },
      'BGP decision applied',
    );
    return result;
  }

  async #publish(): Promise<void> {
    const applied = this.#applied;
    if (applied === undefined) return;
    this.#publishedAt = this.#clock.now();
    try {
      await this.#deps.store.publishAnnouncement(
        {
          pop: this.options.pop,
          agent: this.options.agentId,
          action: applied.action,
          prepend: applied.action === 'announce' ? applied.prepend : 0,
          reason: applied.reason,
          prefixes: [...this.options.prefixes],
          load: applied.load,
        },
        3 * this.options.intervalMs,
      );
    } catch (err) {
      // Only invalid arguments throw (the store queues writes while it is down).
      this.#log.error({ err: (err as Error).message }, 'announcement not published');
    }
  }
}
