/**
 * The relay's 1:1 NAT address map (coturn `external-ip=PUBLIC/PRIVATE`): this host binds PRIVATE, the world
 * reaches it on PUBLIC (same ports). The one place that translates between the two:
 *
 *   advertised()  what we tell clients: XOR-RELAYED-ADDRESS, the anycast 300's ALTERNATE-SERVER, /status and the
 *                 cluster heartbeat show PUBLIC for a relay or listen address that is a mapped PRIVATE one.
 *   toPrivate()   sending to a peer: a peer address equal to one of our PUBLIC addresses (client-to-client on this
 *                 relay) is sent to its PRIVATE address instead, so it arrives without a NAT hairpin.
 *   toPublic()    receiving from a peer: a datagram whose source is one of our PRIVATE addresses came from this
 *                 host; a client knows that sender by its PUBLIC address (see DataPath.fromPeer).
 *
 * XOR-MAPPED-ADDRESS is never mapped (it is what we saw). Mappings arrive validated (src/config/schema.ts) and
 * are only canonicalised here; toPrivate/toPublic are per packet and take Node's textual form (what dgram's
 * rinfo and the STUN codec produce), so they are a single Map lookup, none at all without mappings.
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../src/stun/index.js';

/** One `external-ip` entry, resolved: PUBLIC is advertised in place of PRIVATE. */
export interface ExternalAddress {
  readonly public: string;
  readonly private: string;
}

const scratch = Buffer.alloc(16);

/** An IP address in Node's textual form (`2001:DB8:0::1` -> `2001:db8::1`); anything unparsable is returned as is. */
export function canonicalIp(address: string): string {
  if (address.includes(':')) return parseIPv6(address, scratch, 0) ? formatIPv6(scratch, 0) : address;
  return parseIPv4(address, scratch, 0) ? formatIPv4(scratch, 0) : address;
}

export class AddressMap {
  /** The mappings, canonicalised, in configuration order. */
  readonly mappings: readonly ExternalAddress[];
  readonly #toPublic = new Map<string, string>();
  readonly #toPrivate = new Map<string, string>();
  readonly #empty: boolean;

  constructor(mappings: readonly ExternalAddress[] = []) {
    const canonical: ExternalAddress[] = [];
    for (const m of mappings) {
      const entry = { public: canonicalIp(m.public), private: canonicalIp(m.private) };
      if (entry.public === entry.private) continue; // maps an address to itself: nothing to translate
      canonical.push(entry);
      this.#toPublic.set(entry.private, entry.public);
      this.#toPrivate.set(entry.public, entry.private);
    }
    this.mappings = Object.freeze(canonical);
    this.#empty = canonical.length === 0;
  }

  /** Number of mappings. */
  get size(): number {
    return this.mappings.length;
  }

  /** What clients are told for one of our addresses (any spelling): its PUBLIC mapping, else the address as given. */
  advertised(address: string): string {
    if (this.#empty) return address;
    return this.#toPublic.get(canonicalIp(address)) ?? address;
  }

  /** Per packet, Node's form: one of our PUBLIC addresses -> the PRIVATE one it stands for; others unchanged. */
  toPrivate(address: string): string {
    if (this.#empty) return address;
    return this.#toPrivate.get(address) ?? address;
  }

  /** Per packet, Node's form: one of our PRIVATE addresses -> its PUBLIC one; undefined for any other address. */
  toPublic(address: string): string | undefined {
    if (this.#empty) return undefined;
    return this.#toPublic.get(address);
  }
}

/** The map of a relay without external-ip. */
export const NO_ADDRESS_MAP = new AddressMap();
