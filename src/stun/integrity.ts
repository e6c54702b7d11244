/**
 * MESSAGE-INTEGRITY (RFC 8489 §14.5, HMAC-SHA1, 20 bytes) and MESSAGE-INTEGRITY-SHA256 (§14.6, HMAC-SHA256,
 * 16..32 bytes, a multiple of 4, truncated from the left-most bytes).
 *
 * The HMAC covers the message up to (excluding) the integrity attribute, with the header length field set as if
 * that attribute were the last one (so a FINGERPRINT or, for MESSAGE-INTEGRITY, a MESSAGE-INTEGRITY-SHA256 that
 * follows is excluded). Verification feeds the HMAC three pieces of the received buffer (type, patched length,
 * rest) and never copies the message.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Attr, HEADER_LENGTH } from './constants.js';
import type { StunMessage } from './message.js';

export type IntegrityResult = 'ok' | 'missing' | 'mismatch';

const lengthScratch = Buffer.alloc(2);

/**
 * HMAC of buf[0, attrStart) with the header length field replaced by `attrStart + 4 + macLength - 20`.
 * `attrStart` is the offset of the integrity attribute's own header.
 */
export function integrityHmac(
  algorithm: 'sha1' | 'sha256',
  key: Buffer,
  buf: Buffer,
  attrStart: number,
  macLength: number,
): Buffer {
  const patched = attrStart + 4 + macLength - HEADER_LENGTH;
  lengthScratch[0] = patched >> 8;
  lengthScratch[1] = patched & 0xff;
  const h = createHmac(algorithm, key);
  h.update(buf.subarray(0, 2));
  h.update(lengthScratch);
  h.update(buf.subarray(4, attrStart));
  return h.digest();
}

/** 'sha256' when MESSAGE-INTEGRITY-SHA256 is present, else 'sha1' when MESSAGE-INTEGRITY is, else undefined. */
export function integrityKind(msg: StunMessage): 'sha256' | 'sha1' | undefined {
  if (msg.has(Attr.MESSAGE_INTEGRITY_SHA256)) return 'sha256';
  if (msg.has(Attr.MESSAGE_INTEGRITY)) return 'sha1';
  return undefined;
}

/**
 * Checks MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY (RFC 8489 §9.2.4 / §14.5 / §14.6).
 * `key` is the HMAC key (short-term: the SASLprep'ed password; long-term: MD5 or SHA-256 of user:realm:pass).
 * Never throws.
 */
export function verifyIntegrity(msg: StunMessage, key: Buffer): IntegrityResult {
  let i = msg.indexOf(Attr.MESSAGE_INTEGRITY_SHA256);
  let algorithm: 'sha1' | 'sha256' = 'sha256';
  if (i < 0) {
    i = msg.indexOf(Attr.MESSAGE_INTEGRITY);
    algorithm = 'sha1';
    if (i < 0) return 'missing';
  }
  const off = msg.valueOffsetAt(i);
  const len = msg.valueLengthAt(i);
  if (algorithm === 'sha1') {
    if (len !== 20) return 'mismatch';
  } else if (len < 16 || len > 32 || (len & 3) !== 0) {
    return 'mismatch';
  }
  const mac = integrityHmac(algorithm, key, msg.raw, off - 4, len);
  return timingSafeEqual(mac.subarray(0, len), msg.raw.subarray(off, off + len)) ? 'ok' : 'mismatch';
}
