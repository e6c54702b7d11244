/**
 * Typed attribute readers over a StunMessage. Each returns `undefined` when the attribute is absent and
 * 'bad-attribute' when it is present but malformed; none throws and none copies the message.
 * When an attribute occurs several times, the first occurrence is read (RFC 8489 §14: later ones are ignored),
 * except by readXorAddresses which reads all of them.
 */
import { Attr } from './constants.js';
import type { StunMessage } from './message.js';
import type { TransportAddress } from './transport-address.js';
import { decodeAddressAt } from './xor-address.js';

export type BadAttribute = 'bad-attribute';

/** XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS (first occurrence). */
export function readXorAddress(msg: StunMessage, type: number): TransportAddress | undefined | BadAttribute {
  const i = msg.indexOf(type);
  if (i < 0) return undefined;
  return decodeAddressAt(msg.raw, msg.valueOffsetAt(i), msg.valueLengthAt(i), msg.raw);
}

/** Every occurrence of an XOR address attribute (several XOR-PEER-ADDRESS in CreatePermission); [] if absent. */
export function readXorAddresses(msg: StunMessage, type: number): TransportAddress[] | BadAttribute {
  const out: TransportAddress[] = [];
  const n = msg.attributeCount;
  for (let i = 0; i < n; i++) {
    if (msg.typeAt(i) !== type) continue;
    const a = decodeAddressAt(msg.raw, msg.valueOffsetAt(i), msg.valueLengthAt(i), msg.raw);
    if (a === 'bad-attribute') return a;
    out.push(a);
  }
  return out;
}

/** Plain (non-XOR) address attributes: MAPPED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS. */
export function readAddress(msg: StunMessage, type: number): TransportAddress | undefined | BadAttribute {
  const i = msg.indexOf(type);
  if (i < 0) return undefined;
  return decodeAddressAt(msg.raw, msg.valueOffsetAt(i), msg.valueLengthAt(i), undefined);
}

/** A 4-byte unsigned value (LIFETIME, PRIORITY, CONNECTION-ID, CACHE-TIMEOUT...). */
export function readUint32(msg: StunMessage, type: number): number | undefined | BadAttribute {
  const i = msg.indexOf(type);
  if (i < 0) return undefined;
  if (msg.valueLengthAt(i) !== 4) return 'bad-attribute';
  return msg.raw.readUInt32BE(msg.valueOffsetAt(i));
}

/** A UTF-8 text value (USERNAME, REALM, NONCE, SOFTWARE, ALTERNATE-DOMAIN). */
export function readString(msg: StunMessage, type: number): string | undefined | BadAttribute {
  const i = msg.indexOf(type);
  if (i < 0) return undefined;
  const off = msg.valueOffsetAt(i);
  return msg.raw.toString('utf8', off, off + msg.valueLengthAt(i));
}

/**
 * ERROR-CODE (RFC 8489 §14.8): 2 reserved bytes, class (3 bits, 3..6), number (0..99), UTF-8 reason phrase.
 */
export function readErrorCode(msg: StunMessage): { code: number; reason: string } | undefined | BadAttribute {
  const i = msg.indexOf(Attr.ERROR_CODE);
  if (i < 0) return undefined;
  const off = msg.valueOffsetAt(i);
  const len = msg.valueLengthAt(i);
  if (len < 4) return 'bad-attribute';
  const raw = msg.raw;
  const cls = raw[off + 2] & 0x07;
  const num = raw[off + 3];
  if (cls < 3 || cls > 6 || num > 99) return 'bad-attribute';
  return { code: cls * 100 + num, reason: raw.toString('utf8', off + 4, off + len) };
}

/** CHANNEL-NUMBER (RFC 8656 §18.1): the 16-bit number (the range check, isValidChannelNumber, is the caller's). */
export function readChannelNumber(msg: StunMessage): number | undefined | BadAttribute {
  const i = msg.indexOf(Attr.CHANNEL_NUMBER);
  if (i < 0) return undefined;
  if (msg.valueLengthAt(i) !== 4) return 'bad-attribute';
  const off = msg.valueOffsetAt(i);
  return (msg.raw[off] << 8) | msg.raw[off + 1];
}

/** REQUESTED-TRANSPORT (RFC 8656 §18.11): the IP protocol number, 17 = UDP (6 = TCP, RFC 6062). */
export function readRequestedTransport(msg: StunMessage): number | undefined | BadAttribute {
  const i = msg.indexOf(Attr.REQUESTED_TRANSPORT);
  if (i < 0) return undefined;
  if (msg.valueLengthAt(i) !== 4) return 'bad-attribute';
  return msg.raw[msg.valueOffsetAt(i)];
}

/**
 * REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.13) or, with `type`, ADDITIONAL-ADDRESS-FAMILY (§18.14):
 * family octet 0x01 -> 4, 0x02 -> 6, anything else 'bad-attribute'.
 */
export function readRequestedAddressFamily(
  msg: StunMessage,
  type: number = Attr.REQUESTED_ADDRESS_FAMILY,
): 4 | 6 | undefined | BadAttribute {
  const i = msg.indexOf(type);
  if (i < 0) return undefined;
  if (msg.valueLengthAt(i) !== 4) return 'bad-attribute';
  const f = msg.raw[msg.valueOffsetAt(i)];
  if (f === 0x01) return 4;
  if (f === 0x02) return 6;
  return 'bad-attribute';
}

/** EVEN-PORT (RFC 8656 §18.6): one byte, R flag in the top bit. */
export function readEvenPort(msg: StunMessage): { reserve: boolean } | undefined | BadAttribute {
  const i = msg.indexOf(Attr.EVEN_PORT);
  if (i < 0) return undefined;
  const len = msg.valueLengthAt(i);
  if (len < 1 || len > 4) return 'bad-attribute';
  return { reserve: (msg.raw[msg.valueOffsetAt(i)] & 0x80) !== 0 };
}

/** UNKNOWN-ATTRIBUTES (RFC 8489 §14.9): a list of 16-bit types. */
export function readUnknownAttributes(msg: StunMessage): number[] | undefined | BadAttribute {
  const i = msg.indexOf(Attr.UNKNOWN_ATTRIBUTES);
  if (i < 0) return undefined;
  const len = msg.valueLengthAt(i);
  if ((len & 1) !== 0) return 'bad-attribute';
  const off = msg.valueOffsetAt(i);
  const out: number[] = [];
  for (let k = 0; k < len; k += 2) out.push((msg.raw[off + k] << 8) | msg.raw[off + k + 1]);
  return out;
}

/** RESERVATION-TOKEN (RFC 8656 §18.9): 8 bytes, returned as a subarray. */
export function readReservationToken(msg: StunMessage): Buffer | undefined | BadAttribute {
  const i = msg.indexOf(Attr.RESERVATION_TOKEN);
  if (i < 0) return undefined;
  if (msg.valueLengthAt(i) !== 8) return 'bad-attribute';
  return msg.valueAt(i);
}

/** DATA (RFC 8656 §18.4): the payload as a subarray (may be empty). */
export function readData(msg: StunMessage): Buffer | undefined {
  const i = msg.indexOf(Attr.DATA);
  return i < 0 ? undefined : msg.valueAt(i);
}
