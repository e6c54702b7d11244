/**
 * Which peers a client may reach through the relay (RFC 8656 §21.3.2 / §22: a TURN server must not become a
 * way into the operator's own networks). Checked when a permission or channel is installed (CreatePermission,
 * ChannelBind → 403), never per packet.
 *
 * Decision: denyPeers (explicit) → refuse; allowPeers → accept; default denied ranges → refuse; else accept.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged as their IPv4 address (net.BlockList does this).
 */
import { BlockList } from 'node:net';
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

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address (a host route). */
export function parseCidr(cidr: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } {
  const slash = cidr.indexOf('/');
  const address = (slash < 0 ? cidr : cidr.slice(0, slash)).trim();
  const type = address.includes(':') ? 'ipv6' : 'ipv4';
  const max = type === 'ipv6' ? 128 : 32;
  const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1).trim();
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) {
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `peer CIDR "${cidr}": prefix must be 0-${max}`);
  }
  return { address, prefix, type };
}

function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const { address, prefix, type } = parseCidr(cidr);
    try {
      list.addSubnet(address, prefix, type);
    } catch (err) {
      throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `peer CIDR "${cidr}" is not an IP network`, { cause: err });
    }
  }
  return list;
}
