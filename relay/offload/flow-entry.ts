/**
 * The kernel's view of one offloaded channel binding: the byte layout of the map keys and values of
 * relay/offload/bpf/channel-data.bpf.c (struct c2p_key, c2p_value, p2c_key, p2c_value; addresses and ports in
 * network order, slot/ifindex/expiry in host order). Keep the two in step.
 */

/** Slots of the per-flow counters array (MAX_FLOWS in the C source); also the maps' size. */
export const MAX_FLOWS = 65536;
/** struct flow_stats: c2p packets, c2p bytes, p2c packets, p2c bytes (u64 each). */
export const FLOW_STATS_BYTES = 32;

/** What one entry relays (IPv4 dotted quads). */
export interface FlowSpec {
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

function writeIpv4(buf: Buffer, at: number, address: string): void {
  let octet = 0;
  let i = at;
  for (let k = 0; k < address.length; k++) {
    const c = address.charCodeAt(k);
    if (c === 46) {
      buf[i++] = octet;
      octet = 0;
    } else {
      octet = octet * 10 + (c - 48);
    }
  }
  buf[i] = octet;
}

export function c2pKey(f: FlowSpec): Buffer {
  const k = Buffer.alloc(16);
  writeIpv4(k, 0, f.clientIp);
  writeIpv4(k, 4, f.listenIp);
  k.writeUInt16BE(f.clientPort, 8);
  k.writeUInt16BE(f.listenPort, 10);
  k.writeUInt16BE(f.channel, 12);
  return k;
}

export function c2pValue(f: FlowSpec, slot: number, expiresNs: bigint): Buffer {
  const v = Buffer.alloc(32);
  writeIpv4(v, 0, f.relayIp);
  writeIpv4(v, 4, f.peerIp);
  v.writeUInt16BE(f.relayPort, 8);
  v.writeUInt16BE(f.peerPort, 10);
  v.writeUInt32LE(slot, 12);
  v.writeUInt32LE(f.peerIfindex, 16);
  v.writeBigUInt64LE(expiresNs, 24);
  return v;
}

export function p2cKey(f: FlowSpec): Buffer {
  const k = Buffer.alloc(12);
  writeIpv4(k, 0, f.peerIp);
  writeIpv4(k, 4, f.relayIp);
  k.writeUInt16BE(f.peerPort, 8);
  k.writeUInt16BE(f.relayPort, 10);
  return k;
}

export function p2cValue(f: FlowSpec, slot: number, expiresNs: bigint): Buffer {
  const v = Buffer.alloc(32);
  writeIpv4(v, 0, f.clientIp);
  writeIpv4(v, 4, f.listenIp);
  v.writeUInt16BE(f.clientPort, 8);
  v.writeUInt16BE(f.listenPort, 10);
  v.writeUInt16BE(f.channel, 12);
  v.writeUInt32LE(slot, 16);
  v.writeUInt32LE(f.clientIfindex, 20);
  v.writeBigUInt64LE(expiresNs, 24);
  return v;
}
