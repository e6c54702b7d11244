/**
 * The hot spare (WO 00/52906: a spare that takes load only when the others are loaded). A relay started with
 * `--standby` stays silent in the anycast race while the other relays of its PoP have room; it joins when their
 * mean load (full counts as 1, draining relays are left out) reaches `threshold`, and leaves again only when it
 * falls below `threshold - hysteresis`. With no other live relay in the PoP it joins (the spare is all there is).
 *
 * Read for requests on G only, from the cluster store's registry cache, re-evaluated at most every `maxAgeMs`.
 */
import type { Clock } from '../../src/clock.js';
import type { ClusterStore } from '../../src/cluster/store.js';

export interface StandbyOptions {
  selfId: string;
  pop: string;
  threshold: number;
  hysteresis: number;
  maxAgeMs?: number;
}

export class StandbyGate {
  readonly #opts: StandbyOptions;
  readonly #store: Pick<ClusterStore, 'relays'>;
  readonly #clock: Clock;
  #joined = false;
  #checkedAt = -Infinity;

  constructor(options: StandbyOptions, deps: { store: Pick<ClusterStore, 'relays'>; clock: Clock }) {
    this.#opts = options;
    this.#store = deps.store;
    this.#clock = deps.clock;
  }

  /** True while the spare stays out of the race. */
  get silent(): boolean {
    const now = this.#clock.now();
    if (now - this.#checkedAt >= (this.#opts.maxAgeMs ?? 250) || now < this.#checkedAt) {
      this.#checkedAt = now;
      this.#joined = this.#decide();
    }
    return !this.#joined;
  }

  /** The mean load of the other relays of the PoP (undefined: none alive). */
  othersLoad(): number | undefined {
    const others = this.#store.relays().filter((r) => r.pop === this.#opts.pop && r.id !== this.#opts.selfId && r.state !== 'draining');
    if (others.length === 0) return undefined;
    return others.reduce((sum, r) => sum + (r.state === 'full' ? 1 : r.load), 0) / others.length;
  }

  #decide(): boolean {
    const load = this.othersLoad();
    if (load === undefined) return true;
    const { threshold, hysteresis } = this.#opts;
    return this.#joined ? load >= threshold - hysteresis : load >= threshold;
  }
}
