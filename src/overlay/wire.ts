/**
 * The overlay wire format: what one anyturn relay sends another over the PoPs' private network (the overlay),
 * one UDP datagram per relayed datagram. Big-endian, fixed offsets so that a kernel fast path (eBPF) can parse
 * and build it without loops:
 *
 *    0  version (high 4 bits, 1) | type (low 4 bits: 1 DATA, 2 PROBE)
 *    1  key id: which cluster overlay key signed the packet (keyring.ts)
 *    2  flags: 0x01 duplicated (a copy went on every path), 0x02 echo valid (bytes 20-27 hold a reference)
 *    3  families: source (high 4 bits) | destination (low 4 bits), 4 or 6; 0 in a PROBE
 *    4  flow id (u32): one per (source relayed address, destination relayed address), chosen by the sender
 *    8  packet id (u64, < 2^53): per flow, +1 per packet; the same id on every copy of a duplicated packet
 *   16  send timestamp (u32, µs of the sender's monotonic clock, wraps)
 *   20  echo reference (u32): the send timestamp of the last packet this sender got from the receiver on this path
 *   24  echo delta (u32, µs): how long ago the sender got that packet; RTT = now - reference - delta
 *   28  DATA only: source relayed address (4 or 16 bytes) + port (2), destination relayed address + port
 *   ..  DATA only: the relayed payload
 *  end  MAC: 16 bytes, HMAC-SHA256(key, every byte before it) truncated
 *
 * A PROBE is the 28-byte header and the MAC: it keeps a path's liveness and RTT known while no data flows.
 *
 * Decoding never throws: it returns the packet's fields or a typed reason the caller counts as a drop.
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../stun/transport-address.js';

export const OVERLAY_VERSION = 1;
export const OverlayType = { Data: 1, Probe: 2 } as const;
export type OverlayType = (typeof OverlayType)[keyof typeof OverlayType];

export const FLAG_DUPLICATED = 0x01;
export const FLAG_ECHO = 0x02;

export const HEADER_LENGTH = 28;
export const MAC_LENGTH = 16;
/** The largest packet id (ids stay exact JavaScript numbers). */
export const MAX_PACKET_ID = Number.MAX_SAFE_INTEGER;

const TWO_32 = 0x1_0000_0000;

export interface OverlayEndpoint {
  family: 4 | 6;
  address: string;
  port: number;
}

/** The fields of a decoded packet; `payload` is a sub-array of the datagram (no copy). */
export interface OverlayPacket {
  type: OverlayType;
  keyId: number;
  flags: number;
  flowId: number;
  packetId: number;
  sendTimestamp: number;
  echoReference: number;
  echoDelta: number;
  /** DATA only (undefined in a PROBE). */
  source: OverlayEndpoint | undefined;
  destination: OverlayEndpoint | undefined;
  payload: Buffer;
  /** Everything the MAC covers (a sub-array of the datagram). */
  signed: Buffer;
  mac: Buffer;
}

export type OverlayDecodeFailure = 'too-short' | 'bad-version' | 'bad-type' | 'bad-family' | 'bad-packet-id';

/** Bytes of an endpoint on the wire (address + port). */
export function endpointLength(family: 4 | 6): number {
  return family === 6 ? 18 : 6;
}

/** Writes an endpoint at `off`; returns the offset after it, or -1 for an address that does not parse. */
export function writeEndpoint(buf: Buffer, off: number, e: OverlayEndpoint): number {
  const ok = e.family === 6 ? parseIPv6(e.address, buf, off) : parseIPv4(e.address, buf, off);
  if (!ok) return -1;
  const at = off + (e.family === 6 ? 16 : 4);
  buf.writeUInt16BE(e.port, at);
  return at + 2;
}

function readEndpoint(buf: Buffer, off: number, family: 4 | 6): OverlayEndpoint {
  const address = family === 6 ? formatIPv6(buf, off) : formatIPv4(buf, off);
  const port = buf.readUInt16BE(off + (family === 6 ? 16 : 4));
  return { family, address, port };
}

function familyOfNibble(n: number): 4 | 6 | undefined {
  return n === 4 ? 4 : n === 6 ? 6 : undefined;
}

/**
 * The header and addresses of a DATA packet for one flow, written once; `stampHeader` fills in the per-packet
 * fields of a copy. Returns undefined when an address does not parse.
 */
export function dataTemplate(flowId: number, source: OverlayEndpoint, destination: OverlayEndpoint): Buffer | undefined {
  const length = HEADER_LENGTH + endpointLength(source.family) + endpointLength(destination.family);
  const buf = Buffer.alloc(length);
  buf[0] = (OVERLAY_VERSION << 4) | OverlayType.Data;
  buf[3] = (source.family << 4) | destination.family;
  buf.writeUInt32BE(flowId >>> 0, 4);
  const at = writeEndpoint(buf, HEADER_LENGTH, source);
  if (at < 0 || writeEndpoint(buf, at, destination) < 0) return undefined;
  return buf;
}

/** A PROBE header (no addresses). */
export function probeTemplate(): Buffer {
  const buf = Buffer.alloc(HEADER_LENGTH);
  buf[0] = (OVERLAY_VERSION << 4) | OverlayType.Probe;
  return buf;
}

/** Per-packet header fields (written by `stampHeader`). */
export interface HeaderStamp {
  keyId: number;
  flags: number;
  packetId: number;
  sendTimestamp: number;
  echoReference: number;
  echoDelta: number;
}

/** Writes the per-packet fields into a header (a copy of a template). */
export function stampHeader(head: Buffer, s: HeaderStamp): void {
  head[1] = s.keyId & 0xff;
  head[2] = s.flags & 0xff;
  const hi = Math.floor(s.packetId / TWO_32);
  head.writeUInt32BE(hi >>> 0, 8);
  head.writeUInt32BE((s.packetId - hi * TWO_32) >>> 0, 12);
  head.writeUInt32BE(s.sendTimestamp >>> 0, 16);
  head.writeUInt32BE(s.echoReference >>> 0, 20);
  head.writeUInt32BE(s.echoDelta >>> 0, 24);
}

/** Decodes a datagram (the MAC is not checked here: keyring.ts). Never throws. */
export function decodeOverlay(buf: Buffer): OverlayPacket | OverlayDecodeFailure {
  if (buf.length < HEADER_LENGTH + MAC_LENGTH) return 'too-short';
  const b0 = buf[0];
  if (b0 >> 4 !== OVERLAY_VERSION) return 'bad-version';
  const type = b0 & 0x0f;
  if (type !== OverlayType.Data && type !== OverlayType.Probe) return 'bad-type';
  const hi = buf.readUInt32BE(8);
  if (hi > 0x1f_ffff) return 'bad-packet-id';
  const packetId = hi * TWO_32 + buf.readUInt32BE(12);
  const end = buf.length - MAC_LENGTH;
  let source: OverlayEndpoint | undefined;
  let destination: OverlayEndpoint | undefined;
  let payloadAt = HEADER_LENGTH;
  if (type === OverlayType.Data) {
    const sf = familyOfNibble(buf[3] >> 4);
    const df = familyOfNibble(buf[3] & 0x0f);
    if (sf === undefined || df === undefined) return 'bad-family';
    const dstAt = HEADER_LENGTH + endpointLength(sf);
    payloadAt = dstAt + endpointLength(df);
    if (payloadAt > end) return 'too-short';
    source = readEndpoint(buf, HEADER_LENGTH, sf);
    destination = readEndpoint(buf, dstAt, df);
  } else if (buf[3] !== 0) {
    return 'bad-family';
  }
  return {
    type,
    keyId: buf[1],
    flags: buf[2],
    flowId: buf.readUInt32BE(4),
    packetId,
    sendTimestamp: buf.readUInt32BE(16),
    echoReference: buf.readUInt32BE(20),
    echoDelta: buf.readUInt32BE(24),
    source,
    destination,
    payload: buf.subarray(payloadAt, end),
    signed: buf.subarray(0, end),
    mac: buf.subarray(end),
  };
}
