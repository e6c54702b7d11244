/**
 * The kernel's view of one offloaded channel binding: the byte layout of the map keys and values of
 * relay/offload/bpf/channel-data.bpf.c (struct c2p_key/c2p6_key, c2p_value/c2p6_value, p2c_key/p2c6_key,
 * p2c_value/p2c6_value; addresses and ports in network order, slot/ifindex/expiry in host order). Keep the two in
 * step.
 */
import { parseIPv4, parseIPv6 } from '../../src/stun/index.js';

/** Slots of the per-flow counters array (MAX_FLOWS in the C source); also the size of each map. */
export const MAX_FLOWS = 65536;
/** struct flow_stats: c2p packets, c2p bytes, p2c packets, p2c bytes (u64 each). */
export const FLOW_STATS_BYTES = 32;

/** What one entry relays; every address of one family. */
export interface FlowSpec {
  family: 4 | 6;
  clientIp: string;
  clientPort: number;
  listenIp: string;
  listenPort: number;
  channel: number;
  relayIp: string;
  relayPort: number;
  peerIp: string;
  peerPort: number;
  /** Egress interface towards the peer / the client; 0 = a local address. */
  peerIfindex: number;
  clientIfindex: number;
}

/** The kernel maps of each family, by name in the object. */
export const MAP_NAMES = {
  4: { c2p: 'c2p_v4', p2c: 'p2c_v4' },
  6: { c2p: 'c2p_v6', p2c: 'p2c_v6' },
} as const;

function writeIp(buf: Buffer, at: number, family: 4 | 6, address: string): void {
  const ok = family === 4 ? parseIPv4(address, buf, at) : parseIPv6(address, buf, at);
  if (!ok) throw new Error(`not an IPv${family} address: ${address}`);
}

/** Address bytes of a family: 4 or 16. */
function size(family: 4 | 6): number {
  return family === 4 ? 4 : 16;
}

export function c2pKey(f: FlowSpec): Buffer {
  const a = size(f.family);
  const k = Buffer.alloc(2 * a + 8);
  writeIp(k, 0, f.family, f.clientIp);
  writeIp(k, a, f.family, f.listenIp);
  k.writeUInt16BE(f.clientPort, 2 * a);
  k.writeUInt16BE(f.listenPort, 2 * a + 2);
  k.writeUInt16BE(f.channel, 2 * a + 4);
  return k;
}

/** relay ip, peer ip, relay port, peer port, slot, ifindex, (pad,) expires_ns (8-aligned). */
export function c2pValue(f: FlowSpec, slot: number, expiresNs: bigint): Buffer {
  const a = size(f.family);
  const at = 2 * a;
  const v = Buffer.alloc(at + 24);
  writeIp(v, 0, f.family, f.relayIp);
  writeIp(v, a, f.family, f.peerIp);
  v.writeUInt16BE(f.relayPort, at);
  v.writeUInt16BE(f.peerPort, at + 2);
  v.writeUInt32LE(slot, at + 4);
  v.writeUInt32LE(f.peerIfindex, at + 8);
  v.writeBigUInt64LE(expiresNs, at + 16);
  return v;
}

export function p2cKey(f: FlowSpec): Buffer {
  const a = size(f.family);
  const k = Buffer.alloc(2 * a + 4);
  writeIp(k, 0, f.family, f.peerIp);
  writeIp(k, a, f.family, f.relayIp);
  k.writeUInt16BE(f.peerPort, 2 * a);
  k.writeUInt16BE(f.relayPort, 2 * a + 2);
  return k;
}

/** client ip, listen ip, client port, listen port, channel, pad, slot, ifindex, expires_ns. */
export function p2cValue(f: FlowSpec, slot: number, expiresNs: bigint): Buffer {
  const a = size(f.family);
  const at = 2 * a;
  const v = Buffer.alloc(at + 24);
  writeIp(v, 0, f.family, f.clientIp);
  writeIp(v, a, f.family, f.listenIp);
  v.writeUInt16BE(f.clientPort, at);
  v.writeUInt16BE(f.listenPort, at + 2);
  v.writeUInt16BE(f.channel, at + 4);
  v.writeUInt32LE(slot, at + 8);
  v.writeUInt32LE(f.clientIfindex, at + 12);
  v.writeBigUInt64LE(expiresNs, at + 16);
  return v;
}
