/**
 * FINGERPRINT (RFC 8489 §14.7): CRC-32 (ISO 3309 / ITU-T V.42, as in zlib) of the message up to the attribute,
 * XOR 0x5354554E. The attribute must be the last one, so the header length already covers it.
 */
import { Attr, FINGERPRINT_XOR, HEADER_LENGTH } from './constants.js';
import type { StunMessage } from './message.js';

/** Slicing-by-4 tables for the reflected polynomial 0xEDB88320. */
const T0 = new Int32Array(256);
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  T0[n] = c;
}
for (let n = 0; n < 256; n++) {
  T1[n] = (T0[n] >>> 8) ^ T0[T0[n] & 0xff];
  T2[n] = (T1[n] >>> 8) ^ T0[T1[n] & 0xff];
  T3[n] = (T2[n] >>> 8) ^ T0[T2[n] & 0xff];
}

/** CRC-32 of buf[start, end) as an unsigned 32-bit number. Out-of-range bounds are clamped. */
export function crc32(buf: Buffer, start = 0, end = buf.length): number {
  if (start < 0) start = 0;
  if (end > buf.length) end = buf.length;
  let c = -1;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    c ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
  }
  for (; i < end; i++) c = T0[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** The FINGERPRINT value for the bytes buf[0, end) (header length already set to include the attribute). */
export function fingerprintOf(buf: Buffer, end: number): number {
  return (crc32(buf, 0, end) ^ FINGERPRINT_XOR) >>> 0;
}

/**
 * 'missing' without FINGERPRINT; 'mismatch' when it is not the last attribute, is not 4 bytes, or its CRC
 * differs; 'ok' otherwise. Never throws.
 */
export function verifyFingerprint(msg: StunMessage): 'ok' | 'missing' | 'mismatch' {
  const i = msg.indexOf(Attr.FINGERPRINT);
  if (i < 0) return 'missing';
  const off = msg.valueOffsetAt(i);
  const raw = msg.raw;
  if (msg.valueLengthAt(i) !== 4 || off + 4 !== raw.length || off - 4 < HEADER_LENGTH) return 'mismatch';
  return raw.readUInt32BE(off) === fingerprintOf(raw, off - 4) ? 'ok' : 'mismatch';
}
