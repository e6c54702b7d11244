/**
 * `--race single`: exactly one relay of the PoP answers a given client flow on G, for clients that break when a
 * second relay's 300 arrives (libjuice keeps the transaction id across its one redirect).
 *
 * Weighted rendezvous hashing (highest random weight): for a flow key k and each live relay i with weight
 * w_i = 1 - load_i (relays full, draining or with weight 0 are left out),
 *     score_i = -w_i / ln(u_i),   u_i = hash(k, id_i) mapped into (0, 1),
 * and the relay with the highest score answers. Every relay runs the same pure function over the same directory
 * and reaches the same answer without talking to the others; a relay's share of new flows is proportional to its
 * weight, and a relay leaving moves only its own flows.
 *
 * Loads are quantised to 1/LOAD_STEPS before use so that relays whose directory snapshots differ by a little load
 * still pick the same responder. If two relays do disagree (different snapshots), a flow gets zero or two answers
 * for that moment; the client retransmits.
 */
import type { TransportAddress } from '../../src/stun/index.js';
import type { TransportProtocol } from '../turn/five-tuple.js';

/** Where a relay can be redirected to, by transport and family (ALTERNATE-SERVER). */
export type AlternateKey = 'udp4' | 'udp6' | 'tcp4' | 'tcp6' | 'tls4' | 'tls6';
export type AlternateServers = Partial<Record<AlternateKey, TransportAddress>>;

export function alternateKey(protocol: TransportProtocol, family: 4 | 6): AlternateKey {
  return `${protocol}${family}`;
}

export interface RelayInfo {
  /** Relay id (`--id`), unique in the PoP. */
  id: string;
  /** Load score in [0, 1] as the relay last announced it. */
  load: number;
  draining?: boolean;
  /** Its unicast addresses (for redirecting stream clients away from a full relay). */
  alternates?: AlternateServers;
}

/** The live relays of this PoP. In-memory for now; src/cluster's relay registry will implement it. */
export interface RelayDirectory {
  relays(): readonly RelayInfo[];
}

export class StaticRelayDirectory implements RelayDirectory {
  #relays: readonly RelayInfo[];

  constructor(relays: readonly RelayInfo[] = []) {
    this.#relays = [...relays];
  }

  relays(): readonly RelayInfo[] {
    return this.#relays;
  }

  set(relays: readonly RelayInfo[]): void {
    this.#relays = [...relays];
  }

  /** Updates (or adds) one relay. */
  upsert(relay: RelayInfo): void {
    const rest = this.#relays.filter((r) => r.id !== relay.id);
    this.#relays = [...rest, relay];
  }
}

export const LOAD_STEPS = 20;

/** 1 - load, load quantised to 1/LOAD_STEPS (rounded down); 0 = never chosen. */
export function rendezvousWeight(relay: RelayInfo): number {
  if (relay.draining) return 0;
  const load = relay.load > 0 ? relay.load : 0; // also NaN
  if (load >= 1) return 0;
  return 1 - Math.floor(load * LOAD_STEPS) / LOAD_STEPS;
}

/** The key of a client flow on G: its 5-tuple. */
export function flowKey(
  protocol: TransportProtocol,
  clientAddress: string,
  clientPort: number,
  serverAddress: string,
  serverPort: number,
): string {
  return `${protocol}|${clientAddress}|${clientPort}|${serverAddress}|${serverPort}`;
}

/** The id of the single relay that answers `key`, or undefined when no relay may answer. */
export function singleResponder(relays: readonly RelayInfo[], key: string): string | undefined {
  let best: string | undefined;
  let bestScore = -Infinity;
  for (const relay of relays) {
    const w = rendezvousWeight(relay);
    if (w <= 0) continue;
    const u = unitInterval(hash53(`${key}#${relay.id}`));
    const score = -w / Math.log(u);
    // Ties (vanishingly rare) go to the smaller id so every relay agrees.
    if (score > bestScore || (score === bestScore && best !== undefined && relay.id < best)) {
      best = relay.id;
      bestScore = score;
    }
  }
  return best;
}

/** Maps a 53-bit hash into the open interval (0, 1) (its top 42 bits: (k + 0.5) / 2^42 never rounds to 0 or 1). */
export function unitInterval(h: number): number {
  return (Math.floor(h / 2048) + 0.5) / 2 ** 42;
}

/**
 * cyrb53: a fast, well-mixed 53-bit string hash (public domain, bryc). Deterministic across processes and
 * machines (only Math.imul and 32-bit operations), which is what rendezvous hashing needs; not cryptographic.
 */
export function hash53(text: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Another relay to send a stream client to when this one is full or draining (TCP/TLS to G reach exactly one
 * relay, so there is no race to lose): the least-loaded live relay, other than `selfId`, that has an address for
 * `key`. Undefined when there is none.
 */
export function fallbackRelay(
  relays: readonly RelayInfo[],
  selfId: string,
  key: AlternateKey,
): { id: string; address: TransportAddress } | undefined {
  let best: { id: string; address: TransportAddress; load: number } | undefined;
  for (const relay of relays) {
    if (relay.id === selfId || rendezvousWeight(relay) <= 0) continue;
    const address = relay.alternates?.[key];
    if (address === undefined) continue;
    if (best === undefined || relay.load < best.load) best = { id: relay.id, address, load: relay.load };
  }
  return best === undefined ? undefined : { id: best.id, address: best.address };
}
