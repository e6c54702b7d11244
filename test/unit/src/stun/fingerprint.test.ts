import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  crc32,
  decodeStun,
  verifyFingerprint,
} from '../../../../src/stun/index.js';
import { decode } from './fixtures/decode.js';
import { Prng } from './fixtures/prng.js';
import { SAMPLE_IPV4_RESPONSE, SAMPLE_REQUEST_LONG_TERM } from './fixtures/rfc5769.js';

const zlibCrc32 = (zlib as unknown as { crc32?: (b: Buffer) => number }).crc32;

describe('crc32', () => {
  it('matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
    expect(crc32(Buffer.from('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('honours start and end and clamps them', () => {
    const b = Buffer.from('xx123456789yy');
    expect(crc32(b, 2, 11)).toBe(0xcbf43926);
    expect(crc32(b, -5, 100)).toBe(crc32(b));
    expect(crc32(b, 5, 5)).toBe(0);
  });

  it('matches zlib for random buffers of every small length', () => {
    const rng = new Prng(7);
    for (let n = 0; n < 300; n++) {
      const b = rng.bytes(n);
      const expected = zlibCrc32 ? zlibCrc32(b) >>> 0 : undefined;
      if (expected !== undefined) expect(crc32(b)).toBe(expected);
      // a range of a larger buffer gives the CRC of that range alone (start/end offsets)
      const padded = Buffer.concat([rng.bytes(3), b, rng.bytes(5)]);
      expect(crc32(padded, 3, 3 + n)).toBe(crc32(b));
    }
  });
});

describe('verifyFingerprint', () => {
  it('accepts what the writer produces', () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.Request, Buffer.alloc(12, 1)).addString(Attr.SOFTWARE, 'abc').addFingerprint();
    const out = w.view();
    expect(verifyFingerprint(decode(out))).toBe('ok');
    // the value is CRC32 of the bytes before it, XOR 0x5354554e
    expect(out.readUInt32BE(out.length - 4)).toBe((crc32(out, 0, out.length - 8) ^ 0x5354554e) >>> 0);
  });

  it("returns 'missing' without FINGERPRINT", () => {
    expect(verifyFingerprint(decode(SAMPLE_REQUEST_LONG_TERM))).toBe('missing');
  });

  it("returns 'mismatch' for any flipped bit", () => {
    for (let i = 0; i < SAMPLE_IPV4_RESPONSE.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const b = Buffer.from(SAMPLE_IPV4_RESPONSE);
        b[i] ^= 1 << bit;
        const m = decodeStun(b);
        if (typeof m === 'string' || !m.has(Attr.FINGERPRINT)) continue;
        expect(verifyFingerprint(m)).toBe('mismatch');
      }
    }
  });

  it("returns 'mismatch' when FINGERPRINT is not last or not 4 bytes", () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.Request, Buffer.alloc(12)).addFingerprint().addString(Attr.SOFTWARE, 'x');
    expect(verifyFingerprint(decode(w.view()))).toBe('mismatch');
    w.reset(Method.Binding, StunClass.Request, Buffer.alloc(12)).addBytes(Attr.FINGERPRINT, Buffer.alloc(8));
    expect(verifyFingerprint(decode(w.view()))).toBe('mismatch');
  });
});
