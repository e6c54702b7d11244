import { describe, expect, it } from 'vitest';
import {
  Attr,
  DECODE_FAILURES,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  Method,
  StunClass,
  StunWriter,
  decodeStun,
  isStunMessage,
  looksLikeStun,
  newTransactionId,
} from '../../../../src/stun/index.js';
import { decode } from './fixtures/decode.js';
import { SAMPLE_REQUEST, hex } from './fixtures/rfc5769.js';

/** A header with the given type and length field followed by `body`. */
function message(type: number, body: Buffer, lengthField = body.length): Buffer {
  const b = Buffer.alloc(HEADER_LENGTH + body.length);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(lengthField, 2);
  b.writeUInt32BE(MAGIC_COOKIE, 4);
  b.fill(0xab, 8, 20);
  body.copy(b, HEADER_LENGTH);
  return b;
}

describe('decodeStun failures', () => {
  it("returns 'short' below 20 bytes", () => {
    for (let n = 0; n < 20; n++) expect(decodeStun(SAMPLE_REQUEST.subarray(0, n))).toBe('short');
  });

  it("returns 'not-stun' when the top two bits are not 00", () => {
    for (const first of [0x40, 0x80, 0xc0]) {
      const b = Buffer.from(SAMPLE_REQUEST);
      b[0] |= first;
      expect(decodeStun(b)).toBe('not-stun');
    }
  });

  it("returns 'bad-cookie' without the magic cookie (e.g. RFC 3489 messages)", () => {
    const b = Buffer.from(SAMPLE_REQUEST);
    b[7] ^= 1;
    expect(decodeStun(b)).toBe('bad-cookie');
  });

  it("returns 'bad-length' when the length field is not a multiple of 4 or does not match the buffer", () => {
    expect(decodeStun(message(0x0001, Buffer.alloc(8), 6))).toBe('bad-length');
    expect(decodeStun(message(0x0001, Buffer.alloc(8), 12))).toBe('bad-length'); // claims more than present
    expect(decodeStun(message(0x0001, Buffer.alloc(8), 4))).toBe('bad-length'); // trailing bytes
    expect(decodeStun(SAMPLE_REQUEST.subarray(0, SAMPLE_REQUEST.length - 4))).toBe('bad-length');
    expect(decodeStun(Buffer.concat([SAMPLE_REQUEST, Buffer.alloc(4)]))).toBe('bad-length');
  });

  it("returns 'bad-attribute-length' when an attribute overruns the message", () => {
    // value length 5 -> padded 8, only 4 bytes left
    expect(decodeStun(message(0x0001, hex('80220005 61626364')))).toBe('bad-attribute-length');
    // value length 4 but nothing after the header
    expect(decodeStun(message(0x0001, hex('00060004')))).toBe('bad-attribute-length');
    // an attribute header cut off: 4 valid bytes... then an attribute claiming 0xffff
    expect(decodeStun(message(0x0001, hex('00250000 0006ffff')))).toBe('bad-attribute-length');
  });

  it('lists every failure in DECODE_FAILURES', () => {
    expect([...DECODE_FAILURES].sort()).toEqual(
      ['bad-attribute-length', 'bad-cookie', 'bad-length', 'not-stun', 'short'].sort(),
    );
  });
});

describe('decodeStun success', () => {
  it('accepts a header-only message', () => {
    const m = decode(message(0x0001, Buffer.alloc(0)));
    expect(m.method).toBe(Method.Binding);
    expect(m.cls).toBe(StunClass.Request);
    expect(m.attributeCount).toBe(0);
    expect(m.has(Attr.USERNAME)).toBe(false);
    expect(m.value(Attr.USERNAME)).toBeUndefined();
    expect(m.values(Attr.USERNAME)).toEqual([]);
    expect(isStunMessage(m)).toBe(true);
    expect(isStunMessage('short')).toBe(false);
  });

  it('indexes attributes as subarrays of the input (zero-copy), honouring padding', () => {
    const buf = message(0x0111, hex('00060009 6576746a 3a683676 59000000 80220003 61626300 00250000'));
    const m = decode(buf);
    expect(m.raw).toBe(buf);
    expect(m.attributeCount).toBe(3);
    expect([m.typeAt(0), m.typeAt(1), m.typeAt(2)]).toEqual([Attr.USERNAME, Attr.SOFTWARE, Attr.USE_CANDIDATE]);
    expect([m.valueOffsetAt(0), m.valueLengthAt(0)]).toEqual([24, 9]);
    expect([m.valueOffsetAt(1), m.valueLengthAt(1)]).toEqual([40, 3]);
    expect(m.valueAt(2).length).toBe(0);
    const username = m.valueAt(0);
    expect(username.toString()).toBe('evtj:h6vY');
    expect(username.buffer).toBe(buf.buffer);
    expect(username.byteOffset).toBe(buf.byteOffset + 24);
    buf[24] = 0x45; // the view sees changes to the input: no copy was made
    expect(m.value(Attr.USERNAME)?.toString()).toBe('Evtj:h6vY');
    expect(m.transactionId.buffer).toBe(buf.buffer);
    expect(m.transactionId.toString('hex')).toBe('ab'.repeat(12));
  });

  it('reports out-of-range indexes without throwing', () => {
    const m = decode(SAMPLE_REQUEST);
    expect(m.typeAt(99)).toBe(-1);
    expect(m.typeAt(-1)).toBe(-1);
    expect(m.valueOffsetAt(99)).toBe(-1);
    expect(m.valueLengthAt(99)).toBe(-1);
    expect(m.valueAt(99).length).toBe(0);
  });

  it('decodes a subarray of a bigger buffer (byteOffset != 0)', () => {
    const big = Buffer.alloc(SAMPLE_REQUEST.length + 100, 0x77);
    SAMPLE_REQUEST.copy(big, 37);
    const view = big.subarray(37, 37 + SAMPLE_REQUEST.length);
    const m = decode(view);
    expect(m.value(Attr.USERNAME)?.toString()).toBe('evtj:h6vY');
  });

  it('returns every occurrence with values() and the first with value()', () => {
    const w = new StunWriter();
    w.reset(Method.CreatePermission, StunClass.Request, newTransactionId())
      .addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 4, address: '10.0.0.1', port: 1 })
      .addString(Attr.SOFTWARE, 'x')
      .addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 4, address: '10.0.0.2', port: 2 });
    const m = decode(w.view());
    expect(m.values(Attr.XOR_PEER_ADDRESS).length).toBe(2);
    expect(m.indexOf(Attr.XOR_PEER_ADDRESS)).toBe(0);
    expect(m.indexOf(Attr.SOFTWARE)).toBe(1);
    expect(m.value(Attr.XOR_PEER_ADDRESS)?.equals(m.valueAt(0))).toBe(true);
  });

  it('ignores attributes after MESSAGE-INTEGRITY except MESSAGE-INTEGRITY-SHA256 and FINGERPRINT', () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.Request, newTransactionId())
      .addString(Attr.USERNAME, 'u')
      .addMessageIntegrity(Buffer.from('k'))
      .addString(Attr.REALM, 'injected')
      .addMessageIntegritySha256(Buffer.from('k'))
      .addString(Attr.NONCE, 'injected')
      .addFingerprint()
      .addString(Attr.SOFTWARE, 'after fingerprint');
    const m = decode(w.view());
    expect(Array.from({ length: m.attributeCount }, (_, i) => m.typeAt(i))).toEqual([
      Attr.USERNAME,
      Attr.MESSAGE_INTEGRITY,
      Attr.MESSAGE_INTEGRITY_SHA256,
      Attr.FINGERPRINT,
    ]);
    expect(m.has(Attr.REALM)).toBe(false);
    expect(m.has(Attr.NONCE)).toBe(false);
    expect(m.has(Attr.SOFTWARE)).toBe(false);
  });

  it('ignores a second MESSAGE-INTEGRITY and anything but FINGERPRINT after MESSAGE-INTEGRITY-SHA256', () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.Request, newTransactionId())
      .addMessageIntegritySha256(Buffer.from('k'))
      .addMessageIntegrity(Buffer.from('k'))
      .addFingerprint();
    const m = decode(w.view());
    expect([m.typeAt(0), m.typeAt(1)]).toEqual([Attr.MESSAGE_INTEGRITY_SHA256, Attr.FINGERPRINT]);
  });

  it('lists unknown comprehension-required attributes once each', () => {
    const w = new StunWriter();
    w.reset(Method.Allocate, StunClass.Request, newTransactionId())
      .addUint32(0x0003, 1) // CHANGE-REQUEST-ish, unknown here
      .addUint32(0x7001, 2)
      .addUint32(0x0003, 3)
      .addUint32(0xc001, 4) // comprehension-optional: never listed
      .addRequestedTransport(17);
    expect(decode(w.view()).unknownComprehensionRequired()).toEqual([0x0003, 0x7001]);
  });

  it('decodes method and class for every method and class', () => {
    const tid = newTransactionId();
    for (const method of Object.values(Method)) {
      for (const cls of Object.values(StunClass)) {
        const m = decode(new StunWriter().reset(method, cls, tid).view());
        expect([m.method, m.cls]).toEqual([method, cls]);
        expect(m.transactionId.equals(tid)).toBe(true);
      }
    }
  });
});

describe('looksLikeStun', () => {
  it('checks the top bits, cookie and length alignment only', () => {
    expect(looksLikeStun(SAMPLE_REQUEST)).toBe(true);
    expect(looksLikeStun(SAMPLE_REQUEST.subarray(0, 20))).toBe(true); // length not checked against the buffer
    expect(looksLikeStun(SAMPLE_REQUEST.subarray(0, 19))).toBe(false);
    expect(looksLikeStun(Buffer.from([0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]))).toBe(false);
    const b = Buffer.from(SAMPLE_REQUEST);
    b[3] = 0x57;
    expect(looksLikeStun(b)).toBe(false);
    const c = Buffer.from(SAMPLE_REQUEST);
    c[4] = 0;
    expect(looksLikeStun(c)).toBe(false);
    const d = Buffer.from(SAMPLE_REQUEST);
    d[0] = 0x80;
    expect(looksLikeStun(d)).toBe(false);
  });
});

describe('newTransactionId', () => {
  it('returns distinct 12-byte buffers that do not share memory', () => {
    const seen = new Set<string>();
    const ids: Buffer[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = newTransactionId();
      expect(id.length).toBe(12);
      seen.add(id.toString('hex'));
      ids.push(id);
    }
    expect(seen.size).toBe(1000);
    const first = ids[0].toString('hex');
    ids[1].fill(0);
    expect(ids[0].toString('hex')).toBe(first);
  });
});
