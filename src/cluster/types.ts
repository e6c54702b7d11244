/**
 * What the cluster store holds: relay records (heartbeats with a TTL), per-PoP
 * summaries, the router agents' announcement decisions, REST secrets, the fleet
 * nonce key and the relayed-address index.
 */

export type RelayState = 'active' | 'draining' | 'full';
export type RelayTransport = 'udp' | 'tcp' | 'tls';

/** One unicast address a relay serves clients on (what a 300 ALTERNATE-SERVER names). */
export interface RelayAddress {
  transport: RelayTransport;
  family: 4 | 6;
  address: string;
  port: number;
}

/** What a relay reports on each heartbeat. */
export interface RelayHeartbeat {
  id: string;
  pop: string;
  addresses: RelayAddress[];
  /** Allocation capacity. */
  capacity: number;
  /** Live allocations. */
  allocations: number;
  /** Load score 0..1 (relay/anycast/load-score.ts). */
  load: number;
  /** Relayed bandwidth, bits per second (both directions). */
  bandwidthBps: number;
  state: RelayState;
  /** The relay's overlay (relay/overlay/): absent when it has none. */
  overlay?: RelayOverlay;
}

/** A relay's overlay addresses (index = path) and what it measured on each path to each other relay. */
export interface RelayOverlay {
  addresses: RelayedAddress[];
  paths: OverlayPathReport[];
  /**
   * Where the relay's relayed addresses live (advertised relay IPs and the port range): a peer address inside them
   * belongs to this relay, known without a look-up in the relayed-address index.
   */
  relayed?: { addresses: string[]; minPort: number; maxPort: number };
}

/** One path from this relay to `peer`, as the receiving side measures it (and RTT as the sender sees it). */
export interface OverlayPathReport {
  peer: string;
  path: number;
  up: boolean;
  /** Smoothed RTT, ms (absent before the first echo). */
  rttMs?: number;
  /** Lost / expected packet ids received on this path since start, 0..1. */
  loss: number;
  /** Copies this relay dropped because the other path's copy came first. */
  duplicates: number;
}

/** A registry entry: the last heartbeat plus when it was written and for how long it holds. */
export interface RelayRecord extends RelayHeartbeat {
  /** Writer's clock, ms. */
  updatedAt: number;
  ttlMs: number;
}

export type AnnouncementAction = 'announce' | 'withdraw';

/** A router agent's BGP decision, published for `anyturn status`. */
export interface AnnouncementInput {
  pop: string;
  /** The agent's id (one per PoP router). */
  agent: string;
  action: AnnouncementAction;
  /** AS-path prepends (0 when withdrawn). */
  prepend: number;
  reason: string;
  prefixes: string[];
  /** Aggregate load the policy saw. */
  load: number;
}

export interface AnnouncementRecord extends AnnouncementInput {
  updatedAt: number;
  ttlMs: number;
}

/** Derived from the registry (see summary.ts). */
export interface PopSummary {
  pop: string;
  relays: number;
  /** Records present and `active`. */
  activeRelays: number;
  drainingRelays: number;
  fullRelays: number;
  allocations: number;
  capacity: number;
  /** Mean load of the relays that are not draining (full counts as 1); 0 when none. */
  load: number;
  bandwidthBps: number;
  /** The agents' decisions for this PoP (usually one). */
  announcements: AnnouncementRecord[];
}

/** A relayed transport address (TURN XOR-RELAYED-ADDRESS). */
export interface RelayedAddress {
  family: 4 | 6;
  address: string;
  port: number;
}

export type ConnectionState = 'up' | 'down';

/** Whether a write reached the shared backend or is kept locally until it returns. */
export type WriteResult = 'written' | 'queued';

export type ClusterStoreEvents = {
  /** The REST secrets changed (newest first). */
  secrets: [secrets: string[]];
  /** The overlay keys changed (newest first). */
  overlayKeys: [keys: string[]];
  /** The egress table changed (`tenant=uplink` rules, newest first). */
  egressRules: [rules: string[]];
  /** The fleet nonce key changed (first load, or the backend's differs from a provisional one). */
  nonceKey: [key: Buffer];
  /** Backend reachability changed (the memory store is always up). */
  connection: [state: ConnectionState];
  /** The registry cache was reloaded. */
  registry: [relays: RelayRecord[]];
};
