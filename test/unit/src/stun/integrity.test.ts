import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeStun,
  integrityHmac,
  integrityKind,
  verifyFingerprint,
  verifyIntegrity,
} from '../../../../src/stun/index.js';
import { decode } from './fixtures/decode.js';
import { SAMPLE_REQUEST, SHORT_TERM_PASSWORD } from './fixtures/rfc5769.js';

const key = Buffer.from('long-term key bytes');
const tid = Buffer.from('a1a2a3a4a5a6a7a8a9aaabac', 'hex');

function request(): StunWriter {
  return new StunWriter()
    .reset(Method.Allocate, StunClass.Request, tid)
    .addString(Attr.USERNAME, 'alice')
    .addString(Attr.REALM, 'example.org')
    .addString(Attr.NONCE, 'n0nce')
    .addRequestedTransport(17);
}

/**
 * Computed independently of the codec: the HMAC of `out` up to its last attribute (the integrity attribute, of
 * `valueLength` bytes), with the header length covering that attribute.
 */
function independentHmac(out: Buffer, algorithm: 'sha1' | 'sha256', valueLength: number): Buffer {
  const prefix = Buffer.from(out.subarray(0, out.length - 4 - valueLength));
  prefix.writeUInt16BE(out.length - 20, 2);
  return createHmac(algorithm, key).update(prefix).digest();
}

describe('MESSAGE-INTEGRITY (HMAC-SHA1)', () => {
  it('is the HMAC of the message up to the attribute with the length covering it (computed independently)', () => {
    const out = request().addMessageIntegrity(key).toBuffer();
    const miStart = out.length - 24;
    const expected = independentHmac(out, 'sha1', 20);
    expect(out.subarray(miStart + 4).equals(expected)).toBe(true);
    expect(integrityHmac('sha1', key, out, miStart, 20).equals(expected)).toBe(true);
  });

  it('verifies with and without a FINGERPRINT after it', () => {
    const plain = decode(request().addMessageIntegrity(key).toBuffer());
    const withFp = decode(request().addMessageIntegrity(key).addFingerprint().toBuffer());
    expect(verifyIntegrity(plain, key)).toBe('ok');
    expect(verifyIntegrity(withFp, key)).toBe('ok');
    expect(verifyFingerprint(withFp)).toBe('ok');
    expect(integrityKind(withFp)).toBe('sha1');
  });

  it("returns 'missing' without an integrity attribute", () => {
    const m = decode(request().toBuffer());
    expect(verifyIntegrity(m, key)).toBe('missing');
    expect(integrityKind(m)).toBeUndefined();
  });

  it("returns 'mismatch' for a wrong key or any modified byte before the attribute", () => {
    const out = request().addMessageIntegrity(key).addFingerprint().toBuffer();
    expect(verifyIntegrity(decode(out), Buffer.from('other key'))).toBe('mismatch');
    for (let i = 0; i < out.length - 32; i++) { // everything before the MI attribute header
      if (i === 2 || i === 3) continue; // length field: changing it breaks decoding instead
      const b = Buffer.from(out);
      b[i] ^= 0x01;
      const m = decodeStun(b);
      if (typeof m === 'string') continue;
      expect(verifyIntegrity(m, key), `byte ${i}`).toBe('mismatch');
    }
  });

  it("returns 'mismatch' when the value is not 20 bytes", () => {
    const w = request().addBytes(Attr.MESSAGE_INTEGRITY, Buffer.alloc(16));
    expect(verifyIntegrity(decode(w.toBuffer()), key)).toBe('mismatch');
  });

  it('does not modify the received message', () => {
    const out = Buffer.from(SAMPLE_REQUEST);
    verifyIntegrity(decode(out), Buffer.from(SHORT_TERM_PASSWORD));
    expect(out.equals(SAMPLE_REQUEST)).toBe(true);
  });
});

describe('MESSAGE-INTEGRITY-SHA256', () => {
  it('is the HMAC-SHA256 of the message up to the attribute (computed independently)', () => {
    const out = request().addMessageIntegritySha256(key).toBuffer();
    expect(out.subarray(out.length - 32).equals(independentHmac(out, 'sha256', 32))).toBe(true);
  });

  it('verifies full and truncated (16..32, multiple of 4) values', () => {
    for (const len of [16, 20, 24, 28, 32]) {
      const m = decode(request().addMessageIntegritySha256(key, len).addFingerprint().toBuffer());
      expect(m.valueLengthAt(m.indexOf(Attr.MESSAGE_INTEGRITY_SHA256))).toBe(len);
      expect(integrityKind(m)).toBe('sha256');
      expect(verifyIntegrity(m, key)).toBe('ok');
      expect(verifyIntegrity(m, Buffer.from('x'))).toBe('mismatch');
      expect(verifyFingerprint(m)).toBe('ok');
    }
  });

  it('refuses to write invalid truncations', () => {
    for (const len of [0, 12, 18, 36]) expect(() => request().addMessageIntegritySha256(key, len)).toThrow();
  });

  it("returns 'mismatch' for a received value of invalid length", () => {
    for (const len of [0, 12, 18, 36]) {
      const m = decode(request().addBytes(Attr.MESSAGE_INTEGRITY_SHA256, Buffer.alloc(len)).toBuffer());
      expect(verifyIntegrity(m, key)).toBe('mismatch');
    }
  });

  it('is preferred over MESSAGE-INTEGRITY when both are present (and covers it)', () => {
    const out = request().addMessageIntegrity(key).addMessageIntegritySha256(key).addFingerprint().toBuffer();
    const m = decode(out);
    expect(integrityKind(m)).toBe('sha256');
    expect(verifyIntegrity(m, key)).toBe('ok');
    // Corrupt the SHA1 value: it is covered by the SHA256 HMAC, so verification fails.
    const b = Buffer.from(out);
    b[m.valueOffsetAt(m.indexOf(Attr.MESSAGE_INTEGRITY))] ^= 0xff;
    expect(verifyIntegrity(decode(b), key)).toBe('mismatch');
  });
});
