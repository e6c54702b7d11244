/**
 * The other relays' overlay ends, from the cluster store's registry cache (never awaited): which relay and which
 * path a source address:port is (only registered relays may send on the overlay), and where each relay's paths end.
 * Each peer keeps, per path, what the overlay node learns: when it was last heard from, the echo state for RTT, and
 * the receiver-side statistics. Rebuilt from `relays()` on a timer; state of a peer that stays registered is kept.
 */
import type { RelayedAddress, RelayRecord } from '../../src/cluster/types.js';
import { PathStats } from '../../src/overlay/path-stats.js';

export class PeerPath {
  readonly index: number;
  /** The peer's overlay address of this path. */
  readonly remote: RelayedAddress;
  /** Local ms when an authentic packet last came from the peer on this path (-Infinity: never). */
  lastHeardAt = -Infinity;
  /** Local ms when this relay last sent on this path to the peer. */
  lastSentAt = -Infinity;
  /** Send timestamp (µs, the peer's clock) of the last packet heard, and when (µs, ours): the echo to send back. */
  echoReference = 0;
  echoHeardAtUs = 0;
  heardOnce = false;
  readonly stats = new PathStats();

  constructor(index: number, remote: RelayedAddress) {
    this.index = index;
    this.remote = remote;
  }

  isUp(now: number, downAfterMs: number): boolean {
    return now - this.lastHeardAt < downAfterMs;
  }
}

export class OverlayPeer {
  readonly id: string;
  paths: PeerPath[];
  /**
   * Next probe packet id (flow 0). Starts from the wall clock in µs, so that a relay that restarts keeps counting
   * upwards where the receivers' dedup window for its probes left off (ids from 0 would be judged too old).
   */
  nextProbeId = Date.now() * 1000;

  constructor(id: string, paths: PeerPath[]) {
    this.id = id;
    this.paths = paths;
  }
}

export interface PeerSource {
  peer: OverlayPeer;
  path: PeerPath;
}

const sourceKey = (address: string, port: number): string => `${address}|${port}`;

export class OverlayPeers {
  readonly #selfId: string;
  /** How many paths this relay has (paths beyond it are not used toward any peer). */
  readonly #localPaths: number;
  #byId = new Map<string, OverlayPeer>();
  #bySource = new Map<string, PeerSource>();
  /** Relay IP -> the relays relaying on it, with their port ranges. */
  #byRelayIp = new Map<string, { id: string; minPort: number; maxPort: number }[]>();

  constructor(selfId: string, localPaths: number) {
    this.#selfId = selfId;
    this.#localPaths = localPaths;
  }

  /** Rebuilds from the registry; keeps the per-path state of peers whose overlay addresses did not change. */
  update(records: readonly RelayRecord[]): void {
    const byId = new Map<string, OverlayPeer>();
    const bySource = new Map<string, PeerSource>();
    const byRelayIp = new Map<string, { id: string; minPort: number; maxPort: number }[]>();
    for (const r of records) {
      if (r.id === this.#selfId || r.overlay === undefined || r.overlay.addresses.length === 0) continue;
      const relayed = r.overlay.relayed;
      for (const ip of relayed?.addresses ?? []) {
        const list = byRelayIp.get(ip) ?? [];
        list.push({ id: r.id, minPort: relayed!.minPort, maxPort: relayed!.maxPort });
        byRelayIp.set(ip, list);
      }
      const old = this.#byId.get(r.id);
      const addresses = r.overlay.addresses.slice(0, this.#localPaths);
      const same = old !== undefined && old.paths.length === addresses.length &&
        old.paths.every((p, i) => p.remote.address === addresses[i].address && p.remote.port === addresses[i].port);
      const peer = same ? old : new OverlayPeer(r.id, addresses.map((a, i) => new PeerPath(i, { ...a })));
      byId.set(r.id, peer);
      for (const path of peer.paths) bySource.set(sourceKey(path.remote.address, path.remote.port), { peer, path });
    }
    this.#byId = byId;
    this.#bySource = bySource;
    this.#byRelayIp = byRelayIp;
  }

  /** The other relay whose relayed addresses (relay IP and port range, from its heartbeat) hold address:port. */
  relayedBy(address: string, port: number): string | undefined {
    const list = this.#byRelayIp.get(address);
    if (list === undefined) return undefined;
    for (const r of list) if (port >= r.minPort && port <= r.maxPort) return r.id;
    return undefined;
  }

  get(id: string): OverlayPeer | undefined {
    return this.#byId.get(id);
  }

  /** The registered relay and path a datagram came from (undefined: not a relay's overlay address). */
  source(address: string, port: number): PeerSource | undefined {
    return this.#bySource.get(sourceKey(address, port));
  }

  all(): IterableIterator<OverlayPeer> {
    return this.#byId.values();
  }

  /** Peers whose path `index` is up (metrics). */
  pathsUp(index: number, now: number, downAfterMs: number): number {
    let n = 0;
    for (const peer of this.#byId.values()) if (peer.paths[index]?.isUp(now, downAfterMs) === true) n += 1;
    return n;
  }

  /** Mean smoothed RTT of path `index` over the peers with a sample, seconds (metrics). */
  meanRttSeconds(index: number): number | undefined {
    let sum = 0;
    let n = 0;
    for (const peer of this.#byId.values()) {
      const s = peer.paths[index]?.stats.srttUs;
      if (s !== undefined) {
        sum += s;
        n += 1;
      }
    }
    return n === 0 ? undefined : sum / n / 1e6;
  }
}
