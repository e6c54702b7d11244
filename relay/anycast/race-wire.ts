/**
 * Wire format of the PoP race group (race-group.ts): the tiny messages the relays of one PoP LAN multicast to
 * each other so that exactly one of them answers each request on the anycast address.
 *
 *   offset  size  field
 *   0       2     magic 'AR'
 *   2       1     version (1)
 *   3       1     type: 1 = Presence, 2 = Claim
 *   4       8     sent at, ms since the epoch (float64 BE): messages older or newer than FRESH_MS are dropped
 *   12      1     sender id length n (1..64)
 *   13      n     sender id (`--id`, ASCII)
 *   Presence:     u16 load step (0..LOAD_STEPS), u8 flags (bit 0 draining, bit 1 full)
 *   Claim:        u16 client port, 12 transaction id, u32 request hash, u8 address length m, m client address
 *                 (text, as the relay saw it)
 *   last 16       HMAC-SHA256(group key, everything before)[0..16]
 *
 * The group key is derived from the fleet nonce key (the same on every relay of a fleet), so only relays of the
 * fleet can claim a race or join the ranking. Pure: no sockets here.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAGIC = 0x4152; // 'AR'
export const VERSION = 1;
export const MAC_BYTES = 16;
/** A message stamped further than this from our clock is dropped (replays, skewed clocks). */
export const FRESH_MS = 5_000;
const MAX_ID = 64;
const HEADER = 13;

export const enum RaceMessageType {
  Presence = 1,
  Claim = 2,
}

export interface Presence {
  type: RaceMessageType.Presence;
  sender: string;
  sentAt: number;
  loadStep: number;
  draining: boolean;
  full: boolean;
}

export interface Claim {
  type: RaceMessageType.Claim;
  sender: string;
  sentAt: number;
  clientAddress: string;
  clientPort: number;
  transactionId: Buffer;
  /** requestHashOf the request's bytes: a client may reuse a transaction id for another request. */
  requestHash: number;
}

export type RaceMessage = Presence | Claim;

export type DecodeFailure = 'short' | 'magic' | 'version' | 'type' | 'mac' | 'stale';

/** The group key of a fleet nonce key. */
export function groupKeyOf(fleetKey: Buffer): Buffer {
  return createHmac('sha256', fleetKey).update('anyturn race group v1').digest();
}

function header(type: RaceMessageType, sender: string, sentAt: number, bodyBytes: number): { buf: Buffer; at: number } {
  const id = Buffer.from(sender, 'latin1');
  if (id.length === 0 || id.length > MAX_ID) throw new RangeError(`race group: relay id must be 1..${MAX_ID} bytes`);
  const buf = Buffer.allocUnsafe(HEADER + id.length + bodyBytes + MAC_BYTES);
  buf.writeUInt16BE(MAGIC, 0);
  buf[2] = VERSION;
  buf[3] = type;
  buf.writeDoubleBE(sentAt, 4);
  buf[12] = id.length;
  id.copy(buf, HEADER);
  return { buf, at: HEADER + id.length };
}

function seal(buf: Buffer, key: Buffer): Buffer {
  const end = buf.length - MAC_BYTES;
  createHmac('sha256', key).update(buf.subarray(0, end)).digest().copy(buf, end, 0, MAC_BYTES);
  return buf;
}

export function encodePresence(p: Omit<Presence, 'type'>, key: Buffer): Buffer {
  const { buf, at } = header(RaceMessageType.Presence, p.sender, p.sentAt, 3);
  buf.writeUInt16BE(p.loadStep, at);
  buf[at + 2] = (p.draining ? 1 : 0) | (p.full ? 2 : 0);
  return seal(buf, key);
}

export function encodeClaim(c: Omit<Claim, 'type'>, key: Buffer): Buffer {
  const address = Buffer.from(c.clientAddress, 'latin1');
  const { buf, at } = header(RaceMessageType.Claim, c.sender, c.sentAt, 2 + 12 + 4 + 1 + address.length);
  buf.writeUInt16BE(c.clientPort, at);
  c.transactionId.copy(buf, at + 2, 0, 12);
  buf.writeUInt32BE(c.requestHash >>> 0, at + 14);
  buf[at + 18] = address.length;
  address.copy(buf, at + 19);
  return seal(buf, key);
}

/** Decodes and authenticates one datagram; `keys` are tried in order (current, previous). Never throws. */
export function decodeRaceMessage(buf: Buffer, keys: readonly Buffer[], nowMs: number): RaceMessage | DecodeFailure {
  if (buf.length < HEADER + 1 + MAC_BYTES) return 'short';
  if (buf.readUInt16BE(0) !== MAGIC) return 'magic';
  if (buf[2] !== VERSION) return 'version';
  const end = buf.length - MAC_BYTES;
  const given = buf.subarray(end);
  if (!keys.some((k) => timingSafeEqual(createHmac('sha256', k).update(buf.subarray(0, end)).digest().subarray(0, MAC_BYTES), given))) {
    return 'mac';
  }
  const sentAt = buf.readDoubleBE(4);
  if (!(Math.abs(nowMs - sentAt) <= FRESH_MS)) return 'stale';
  const idLen = buf[12];
  const at = HEADER + idLen;
  if (idLen === 0 || idLen > MAX_ID || at > end) return 'short';
  const sender = buf.toString('latin1', HEADER, at);
  switch (buf[3]) {
    case RaceMessageType.Presence: {
      if (at + 3 !== end) return 'short';
      const flags = buf[at + 2];
      return { type: RaceMessageType.Presence, sender, sentAt, loadStep: buf.readUInt16BE(at), draining: (flags & 1) !== 0, full: (flags & 2) !== 0 };
    }
    case RaceMessageType.Claim: {
      if (at + 19 > end) return 'short';
      const addrLen = buf[at + 18];
      if (at + 19 + addrLen !== end) return 'short';
      return {
        type: RaceMessageType.Claim,
        sender,
        sentAt,
        clientPort: buf.readUInt16BE(at),
        transactionId: Buffer.from(buf.subarray(at + 2, at + 14)),
        requestHash: buf.readUInt32BE(at + 14),
        clientAddress: buf.toString('latin1', at + 19, end),
      };
    }
    default:
      return 'type';
  }
}
