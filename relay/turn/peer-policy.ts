/**
 * Which peers a client may reach through the relay (RFC 8656 §21.3.2 / §22: a TURN server must not become a
 * way into the operator's own networks). Checked when a permission or channel is installed (CreatePermission,
 * ChannelBind → 403), never per packet.
 *
 * Decision: denyPeers (explicit) → refuse; allowPeers → accept; default denied ranges → refuse; else accept.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as their IPv4 address (net.BlockList does this).
 */
import { BlockList } from 'node:net';
import { parseCidr } from '../../src/config/fields.js';
import { AnyturnError } from '../../src/errors.js';

/** Refused unless allowPeers says otherwise: loopback, private, CGNAT, link-local, multicast, reserved. */
export const DEFAULT_DENIED_PEERS: readonly string[] = Object.freeze([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16', // includes 169.254.169.254 (cloud metadata)
  '172.16.0.0/12',
  '192.168.0.0/16',
  '224.0.0.0/4',
  '240.0.0.0/4', // includes 255.255.255.255
  '::/128',
  '::1/128',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
]);

export type PeerDecision = 'allow' | 'deny';

export class PeerPolicy {
  readonly #deny: BlockList;
  readonly #allow: BlockList;
  readonly #defaults: BlockList;

  /** Throws ATN_ERR_CONFIG_INVALID for a CIDR that does not parse. */
  constructor(options: { allowPeers: readonly string[]; denyPeers: readonly string[] }) {
    this.#deny = blockListOf(options.denyPeers);
    this.#allow = blockListOf(options.allowPeers);
    this.#defaults = blockListOf(DEFAULT_DENIED_PEERS);
  }

  check(address: string, family: 4 | 6): PeerDecision {
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (this.#deny.check(address, type)) return 'deny';
    if (this.#allow.check(address, type)) return 'allow';
    if (this.#defaults.check(address, type)) return 'deny';
    return 'allow';
  }

  isAllowed(address: string, family: 4 | 6): boolean {
    return this.check(address, family) === 'allow';
  }
}

function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    // The config schema validated --allow-peer/--deny-peer already; this guards the built-in lists and direct use.
    const parsed = parseCidr(cidr);
    if (parsed === undefined) throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `peer CIDR "${cidr}" is not an IP network`);
    list.addSubnet(parsed.address, parsed.prefix, parsed.family === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}
