/**
 * The PoP's BGP policy: a pure function from its relays' health and load to
 * "announce the anycast prefixes with N AS-path prepends" or "withdraw them".
 *
 *  - Announce while at least one relay is healthy and `active` (neither full nor draining);
 *    withdraw when none is (no relays, all dead, all full or draining).
 *  - De-prefer the PoP as its aggregate load rises: the highest step whose `load` the
 *    aggregate reaches gives the prepend count.
 *  - Hysteresis: a step is entered when the load reaches its threshold and left only when
 *    the load falls below `threshold - hysteresis`, so a load oscillating around a
 *    threshold does not flap the route.
 *
 * Aggregate load = weighted mean over healthy relays that are not draining (a draining
 * relay's capacity is on its way out); a `full` relay counts as load 1. Loads are clamped
 * to 0..1 and a non-finite load counts as 1 (the conservative reading).
 */
import type { RelayState } from '../src/cluster/types.js';

export interface PolicyRelay {
  /** For the reason text only. */
  id?: string;
  /** The agent's verdict from probes and the registry. */
  healthy: boolean;
  state: RelayState;
  /** Load score 0..1. */
  load: number;
  /** Weight in the aggregate (e.g. capacity); default 1. */
  weight?: number;
}

export interface PrependStep {
  /** Aggregate load (0..1) at which this step starts. */
  load: number;
  /** AS-path prepends while in this step. */
  prepend: number;
}

export interface PolicyThresholds {
  /** Any order; the function sorts a copy by load. */
  steps: readonly PrependStep[];
  /** A step is left only below `step.load - hysteresis`. */
  hysteresis: number;
}

export type PolicyAction = 'announce' | 'withdraw';

export interface PolicyDecision {
  action: PolicyAction;
  /** 0 when withdrawing. */
  prepend: number;
  /** One line for logs, metrics labels never (free text). */
  reason: string;
  /** Aggregate load used (0 when no relay counts). */
  load: number;
  /** Relays that are healthy and active (they answer on the anycast address). */
  eligibleRelays: number;
  healthyRelays: number;
  totalRelays: number;
}

export function decide(
  relays: readonly PolicyRelay[],
  thresholds: PolicyThresholds,
  previous?: Pick<PolicyDecision, 'action' | 'prepend'>,
): PolicyDecision {
  let healthy = 0;
  let eligible = 0;
  let weightSum = 0;
  let loadSum = 0;
  for (const r of relays) {
    if (!r.healthy) continue;
    healthy++;
    if (r.state === 'draining') continue;
    if (r.state === 'active') eligible++;
    const w = r.weight !== undefined && Number.isFinite(r.weight) && r.weight > 0 ? r.weight : 1;
    weightSum += w;
    loadSum += w * (r.state === 'full' ? 1 : clampLoad(r.load));
  }
  const counts = { eligibleRelays: eligible, healthyRelays: healthy, totalRelays: relays.length };

  if (eligible === 0) {
    let why: string;
    if (relays.length === 0) why = 'no relays';
    else if (healthy === 0) why = `no healthy relay (0/${relays.length})`;
    else why = `all ${healthy} healthy relays are full or draining`;
    return { action: 'withdraw', prepend: 0, reason: why, load: weightSum > 0 ? loadSum / weightSum : 0, ...counts };
  }

  const load = loadSum / weightSum;
  const steps = [...thresholds.steps].sort((a, b) => a.load - b.load || a.prepend - b.prepend);
  const level = levelFor(load, steps, thresholds.hysteresis, previous);
  const prepend = level < 0 ? 0 : steps[level].prepend;
  const loadText = load.toFixed(3);
  let reason: string;
  if (level < 0) reason = `${eligible}/${relays.length} relays eligible, load ${loadText}`;
  else if (load >= steps[level].load) reason = `${eligible}/${relays.length} relays eligible, load ${loadText} >= ${steps[level].load}`;
  else reason = `${eligible}/${relays.length} relays eligible, load ${loadText} held at step ${steps[level].load} (hysteresis ${thresholds.hysteresis})`;
  return { action: 'announce', prepend, reason, load, ...counts };
}

/** Index of the step in force (-1: none), with hysteresis relative to the previous decision. */
function levelFor(
  load: number,
  steps: readonly PrependStep[],
  hysteresis: number,
  previous: Pick<PolicyDecision, 'action' | 'prepend'> | undefined,
): number {
  let up = -1;
  for (let i = 0; i < steps.length; i++) if (load >= steps[i].load) up = i;
  const held = previous === undefined || previous.action === 'withdraw' ? -1 : previousLevel(steps, previous.prepend);
  if (up >= held) return up;
  // The load fell below the step in force: stay in the highest step at or below it whose
  // threshold minus the margin the load still reaches.
  const margin = Number.isFinite(hysteresis) && hysteresis > 0 ? hysteresis : 0;
  for (let i = held; i > up; i--) if (load >= steps[i].load - margin) return i;
  return up;
}

/** The step a previous prepend count belongs to (thresholds may have changed since). */
function previousLevel(steps: readonly PrependStep[], prepend: number): number {
  if (prepend <= 0) return -1;
  let level = -1;
  for (let i = 0; i < steps.length; i++) if (steps[i].prepend <= prepend) level = i;
  return level;
}

function clampLoad(load: number): number {
  if (!Number.isFinite(load)) return 1;
  return load < 0 ? 0 : load > 1 ? 1 : load;
}

/**
 * The policy's input from the agent's two sources: its own probes (health) and the
 * cluster registry (state, load, capacity as weight). A relay the registry does not
 * know (store unreachable since start, or an embedded store) counts as active with
 * load 0: the probes alone decide.
 */
export function policyRelays(
  probed: readonly { id: string; healthy: boolean }[],
  registry: (id: string) => { state: RelayState; load: number; capacity?: number } | undefined,
): PolicyRelay[] {
  return probed.map(({ id, healthy }) => {
    const r = registry(id);
    if (r === undefined) return { id, healthy, state: 'active', load: 0 };
    return { id, healthy, state: r.state, load: r.load, ...(r.capacity !== undefined && r.capacity > 0 ? { weight: r.capacity } : {}) };
  });
}

/** True when two decisions route the same way (the reason may differ). */
export function sameRouting(a: Pick<PolicyDecision, 'action' | 'prepend'>, b: Pick<PolicyDecision, 'action' | 'prepend'>): boolean {
  return a.action === b.action && (a.action === 'withdraw' || a.prepend === b.prepend);
}
