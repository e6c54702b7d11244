/**
 * Address attribute values (RFC 8489 §14.1 MAPPED-ADDRESS, §14.2 XOR-MAPPED-ADDRESS; the same layout is used by
 * XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS):
 *
 *   0: reserved (0)   1: family (0x01 IPv4, 0x02 IPv6)   2-3: port   4..: address (4 or 16 bytes)
 *
 * XOR variants XOR the port with the top 16 bits of the magic cookie, an IPv4 address with the cookie and an IPv6
 * address with the cookie followed by the transaction id. `header` is the buffer whose bytes 4..19 hold the
 * cookie and transaction id of the message (the message itself, or the writer's buffer).
 */
import { FAMILY_IPV4, FAMILY_IPV6 } from './constants.js';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6, type TransportAddress } from './transport-address.js';

const scratch = Buffer.alloc(16);

/** Value length of an address attribute for a family. */
export function addressValueLength(family: 4 | 6): number {
  return family === 4 ? 8 : 20;
}

/** Address length in bytes (4 or 16) for a family byte on the wire; undefined for an unknown family. */
function addressBytesOf(familyByte: number): 4 | 16 | undefined {
  if (familyByte === FAMILY_IPV4) return 4;
  if (familyByte === FAMILY_IPV6) return 16;
  return undefined;
}

/**
 * Decodes the address value of `len` bytes at `buf[off]`. With `header`, XOR-decodes using header bytes 4..19.
 * Returns 'bad-attribute' for a wrong length or family; never throws.
 */
export function decodeAddressAt(
  buf: Buffer,
  off: number,
  len: number,
  header: Buffer | undefined,
): TransportAddress | 'bad-attribute' {
  if (len < 4 || off < 0 || off + len > buf.length) return 'bad-attribute';
  const addressBytes = addressBytesOf(buf[off + 1]);
  if (addressBytes === undefined || len !== 4 + addressBytes) return 'bad-attribute';
  const format = addressBytes === 4 ? formatIPv4 : formatIPv6;
  const family = addressBytes === 4 ? 4 : 6;
  let port = (buf[off + 2] << 8) | buf[off + 3];
  if (header === undefined) return { family, address: format(buf, off + 4), port };
  if (header.length < 4 + addressBytes) return 'bad-attribute';
  port ^= (header[4] << 8) | header[5];
  for (let k = 0; k < addressBytes; k++) scratch[k] = buf[off + 4 + k] ^ header[4 + k];
  return { family, address: format(scratch, 0), port };
}

/**
 * Encodes `a` as an address value at `target[off]` (which must have room for 8 or 20 bytes). With `header`,
 * XOR-encodes using header bytes 4..19 (which must already hold the cookie and transaction id).
 * Returns the number of bytes written, or -1 when the address text does not parse for its family
 * or the port is out of range (nothing meaningful is written then).
 */
export function encodeAddressAt(
  target: Buffer,
  off: number,
  a: TransportAddress,
  header: Buffer | undefined,
): number {
  const port = a.port;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) return -1;
  let addressBytes: number;
  if (a.family === 4) {
    if (!parseIPv4(a.address, target, off + 4)) return -1;
    target[off + 1] = FAMILY_IPV4;
    addressBytes = 4;
  } else if (a.family === 6) {
    if (!parseIPv6(a.address, target, off + 4)) return -1;
    target[off + 1] = FAMILY_IPV6;
    addressBytes = 16;
  } else {
    return -1;
  }
  target[off] = 0;
  if (header === undefined) {
    target[off + 2] = port >> 8;
    target[off + 3] = port & 0xff;
  } else {
    target[off + 2] = (port >> 8) ^ header[4];
    target[off + 3] = (port & 0xff) ^ header[5];
    for (let k = 0; k < addressBytes; k++) target[off + 4 + k] ^= header[4 + k];
  }
  return 4 + addressBytes;
}
