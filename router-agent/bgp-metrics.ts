/**
 * The BGP loop's Prometheus metrics, on the agent's registry (router-agent/metrics.ts
 * sets the `pop` label on it). Label values come from fixed sets.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { PolicyAction, PolicyDecision } from './policy.js';

export class BgpMetrics {
  /** 1 while BIRD announces the anycast prefixes, 0 while they are withdrawn (absent before the first apply). */
  readonly announced: Gauge;
  /** AS-path prepends BIRD applies now (0 when withdrawn). */
  readonly prepend: Gauge;
  /** Aggregate load the policy saw at the last evaluation. */
  readonly load: Gauge;
  /** Relays healthy and active at the last evaluation. */
  readonly eligibleRelays: Gauge;
  /** Routing changes applied to BIRD, by the action applied. */
  readonly decisions: Counter<'action'>;
  /** Policy evaluations (on a health change, a registry reload, the announce timer). */
  readonly evaluations: Counter;
  /** BIRD refused or could not be reached (retried on the next evaluation). */
  readonly applyFailures: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.announced = new Gauge({ name: 'anyturn_agent_bgp_announced', help: '1 = anycast prefixes announced, 0 = withdrawn', registers });
    this.prepend = new Gauge({ name: 'anyturn_agent_bgp_prepend', help: 'AS-path prepends in force', registers });
    this.load = new Gauge({ name: 'anyturn_agent_bgp_load', help: 'aggregate PoP load seen by the BGP policy (0..1)', registers });
    this.eligibleRelays = new Gauge({
      name: 'anyturn_agent_bgp_eligible_relays', help: 'relays healthy and active (neither full nor draining)', registers,
    });
    this.decisions = new Counter({
      name: 'anyturn_agent_bgp_decisions_total', help: 'routing changes applied to BIRD', labelNames: ['action'], registers,
    });
    for (const action of ['announce', 'withdraw'] satisfies PolicyAction[]) this.decisions.inc({ action }, 0);
    this.evaluations = new Counter({ name: 'anyturn_agent_bgp_evaluations_total', help: 'BGP policy evaluations', registers });
    this.applyFailures = new Counter({
      name: 'anyturn_agent_bgp_apply_failures_total', help: 'BIRD reconfigurations that failed (retried)', registers,
    });
  }

  observeEvaluation(decision: PolicyDecision): void {
    this.evaluations.inc();
    this.load.set(decision.load);
    this.eligibleRelays.set(decision.eligibleRelays);
  }

  observeApplied(decision: Pick<PolicyDecision, 'action' | 'prepend'>): void {
    this.decisions.inc({ action: decision.action });
    this.announced.set(decision.action === 'announce' ? 1 : 0);
    this.prepend.set(decision.action === 'announce' ? decision.prepend : 0);
  }
}
