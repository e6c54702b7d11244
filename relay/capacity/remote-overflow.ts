/**
 * Overflow to a remote PoP (WO 01/18641: a full PoP refers clients to a remote one instead of going silent).
 *
 * When every live relay of this PoP is full or draining, one of them (the designated responder: the lowest relay id
 * of the PoP in the registry, so that a client gets exactly one answer) answers an Allocate on G with a 300 naming
 * the least-loaded relay with room in the nearest other PoP. "Nearest" comes from the configured PoP distance table
 * (`pop-distance POP=N`, smaller is nearer); PoPs not in the table are never used. BGP withdrawal stays the
 * router agent's last resort.
 *
 * Read for Allocates on G only (never per relayed packet), from the cluster store's registry cache, rebuilt at most
 * every `maxAgeMs`.
 */
import type { Clock } from '../../src/clock.js';
import type { ClusterStore } from '../../src/cluster/store.js';
import type { RelayRecord } from '../../src/cluster/types.js';
import type { TransportAddress } from '../../src/stun/index.js';
import type { OverflowTarget } from '../anycast/responder.js';
import type { AlternateKey } from '../anycast/single-responder.js';

export interface RemoteOverflowOptions {
  selfId: string;
  pop: string;
  /** PoP name -> distance (smaller is nearer). */
  distances: ReadonlyMap<string, number>;
  maxAgeMs?: number;
}

export class RemoteOverflow implements OverflowTarget {
  readonly #opts: RemoteOverflowOptions;
  readonly #store: Pick<ClusterStore, 'relays'>;
  readonly #clock: Clock;
  /** Redirects handed out (read by the metrics). */
  redirects = 0;
  #designated = false;
  #remote: RelayRecord[] = [];
  #builtAt = -Infinity;

  constructor(options: RemoteOverflowOptions, deps: { store: Pick<ClusterStore, 'relays'>; clock: Clock }) {
    this.#opts = options;
    this.#store = deps.store;
    this.#clock = deps.clock;
  }

  alternate(key: AlternateKey): TransportAddress | undefined {
    this.#refresh();
    if (!this.#designated) return undefined;
    for (const r of this.#remote) {
      const a = addressFor(r, key);
      if (a !== undefined) {
        this.redirects += 1;
        return a;
      }
    }
    return undefined;
  }

  #refresh(): void {
    const now = this.#clock.now();
    if (now - this.#builtAt < (this.#opts.maxAgeMs ?? 250) && now >= this.#builtAt) return;
    this.#builtAt = now;
    const all = this.#store.relays();
    const local = all.filter((r) => r.pop === this.#opts.pop);
    const saturated = local.every((r) => r.state !== 'active' || r.id === this.#opts.selfId);
    const lowest = local.reduce<string | undefined>((min, r) => (min === undefined || r.id < min ? r.id : min), undefined);
    this.#designated = saturated && (lowest === undefined || lowest === this.#opts.selfId);
    const distances = this.#opts.distances;
    this.#remote = all
      .filter((r) => r.pop !== this.#opts.pop && distances.has(r.pop) && r.state === 'active' && r.allocations < r.capacity)
      .sort((a, b) => distances.get(a.pop)! - distances.get(b.pop)! || a.load - b.load || (a.id < b.id ? -1 : 1));
  }
}

function addressFor(r: RelayRecord, key: AlternateKey): TransportAddress | undefined {
  const a = r.addresses.find((x) => `${x.transport}${x.family}` === key);
  return a === undefined ? undefined : { family: a.family, address: a.address, port: a.port };
}
