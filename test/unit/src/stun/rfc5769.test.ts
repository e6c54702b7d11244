import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  integrityKind,
  readString,
  readUint32,
  readXorAddress,
  verifyFingerprint,
  verifyIntegrity,
} from '../../../../src/stun/index.js';
import { decode } from './fixtures/decode.js';
import * as v from './fixtures/rfc5769.js';

const shortTermKey = Buffer.from(v.SHORT_TERM_PASSWORD, 'utf8');
const credentials = `${v.LONG_TERM_USERNAME}:${v.LONG_TERM_REALM}:${v.LONG_TERM_PASSWORD}`;
const md5Key = createHash('md5').update(credentials, 'utf8').digest();
const sha256Key = createHash('sha256').update(credentials, 'utf8').digest();

describe('RFC 5769 §2.1 sample request', () => {
  const m = decode(v.SAMPLE_REQUEST);

  it('decodes header and attributes', () => {
    expect(m.method).toBe(Method.Binding);
    expect(m.cls).toBe(StunClass.Request);
    expect(m.transactionId.equals(v.SAMPLE_TRANSACTION_ID)).toBe(true);
    expect(Array.from({ length: m.attributeCount }, (_, i) => m.typeAt(i))).toEqual([
      Attr.SOFTWARE,
      Attr.PRIORITY,
      Attr.ICE_CONTROLLED,
      Attr.USERNAME,
      Attr.MESSAGE_INTEGRITY,
      Attr.FINGERPRINT,
    ]);
    expect(readString(m, Attr.SOFTWARE)).toBe('STUN test client');
    expect(readString(m, Attr.USERNAME)).toBe('evtj:h6vY'); // padding (0x20) is not part of the value
    expect(readUint32(m, Attr.PRIORITY)).toBe(0x6e0001ff);
    expect(m.value(Attr.ICE_CONTROLLED)?.toString('hex')).toBe('932ff9b151263b36');
    expect(m.unknownComprehensionRequired()).toEqual([]);
  });

  it('verifies MESSAGE-INTEGRITY (short-term) and FINGERPRINT', () => {
    expect(integrityKind(m)).toBe('sha1');
    expect(verifyIntegrity(m, shortTermKey)).toBe('ok');
    expect(verifyIntegrity(m, Buffer.from('wrong password'))).toBe('mismatch');
    expect(verifyFingerprint(m)).toBe('ok');
  });
});

describe('RFC 5769 §2.2 sample IPv4 response', () => {
  const m = decode(v.SAMPLE_IPV4_RESPONSE);
  it('reads XOR-MAPPED-ADDRESS 192.0.2.1:32853 and verifies', () => {
    expect(m.method).toBe(Method.Binding);
    expect(m.cls).toBe(StunClass.SuccessResponse);
    expect(readString(m, Attr.SOFTWARE)).toBe('test vector');
    expect(readXorAddress(m, Attr.XOR_MAPPED_ADDRESS)).toEqual({ family: 4, address: '192.0.2.1', port: 32853 });
    expect(verifyIntegrity(m, shortTermKey)).toBe('ok');
    expect(verifyFingerprint(m)).toBe('ok');
  });
});

describe('RFC 5769 §2.3 sample IPv6 response', () => {
  const m = decode(v.SAMPLE_IPV6_RESPONSE);
  it('reads XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853 and verifies', () => {
    expect(readXorAddress(m, Attr.XOR_MAPPED_ADDRESS)).toEqual({
      family: 6,
      address: '2001:db8:1234:5678:11:2233:4455:6677',
      port: 32853,
    });
    expect(verifyIntegrity(m, shortTermKey)).toBe('ok');
    expect(verifyFingerprint(m)).toBe('ok');
  });
});

describe('RFC 5769 §2.4 sample request with long-term authentication', () => {
  const m = decode(v.SAMPLE_REQUEST_LONG_TERM);

  it('reads USERNAME, NONCE, REALM and verifies with MD5(username:realm:password)', () => {
    expect(m.transactionId.equals(v.LONG_TERM_TRANSACTION_ID)).toBe(true);
    expect(readString(m, Attr.USERNAME)).toBe(v.LONG_TERM_USERNAME);
    expect(readString(m, Attr.NONCE)).toBe(v.LONG_TERM_NONCE);
    expect(readString(m, Attr.REALM)).toBe(v.LONG_TERM_REALM);
    expect(verifyIntegrity(m, md5Key)).toBe('ok');
    expect(verifyIntegrity(m, shortTermKey)).toBe('mismatch');
    expect(verifyFingerprint(m)).toBe('missing');
  });

  it('is reproduced byte for byte by StunWriter', () => {
    const w = new StunWriter(Buffer.alloc(256, 0xee)); // dirty buffer: padding must be zeroed
    w.reset(Method.Binding, StunClass.Request, v.LONG_TERM_TRANSACTION_ID)
      .addString(Attr.USERNAME, v.LONG_TERM_USERNAME)
      .addString(Attr.NONCE, v.LONG_TERM_NONCE)
      .addString(Attr.REALM, v.LONG_TERM_REALM)
      .addMessageIntegrity(md5Key);
    expect(w.view().toString('hex')).toBe(v.SAMPLE_REQUEST_LONG_TERM.toString('hex'));
  });
});

describe('RFC 8489 Appendix B.1 (MESSAGE-INTEGRITY-SHA256, PASSWORD-ALGORITHM, USERHASH)', () => {
  const m = decode(v.RFC8489_SAMPLE_REQUEST_SHA256);

  it('verifies MESSAGE-INTEGRITY-SHA256 with SHA-256(username:realm:password)', () => {
    expect(integrityKind(m)).toBe('sha256');
    expect(verifyIntegrity(m, sha256Key)).toBe('ok');
    expect(verifyIntegrity(m, md5Key)).toBe('mismatch');
  });

  it('reads USERHASH, NONCE, REALM and PASSWORD-ALGORITHM', () => {
    const userhash = createHash('sha256').update(`${v.LONG_TERM_USERNAME}:${v.LONG_TERM_REALM}`, 'utf8').digest();
    expect(m.value(Attr.USERHASH)?.equals(userhash)).toBe(true);
    expect(readString(m, Attr.NONCE)).toBe(v.RFC8489_NONCE);
    expect(readString(m, Attr.REALM)).toBe(v.LONG_TERM_REALM);
    expect(readUint32(m, Attr.PASSWORD_ALGORITHM)).toBe(0x00020000); // algorithm 2 (SHA-256), no parameters
  });

  it('is reproduced byte for byte by StunWriter', () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.Request, v.LONG_TERM_TRANSACTION_ID)
      .addBytes(Attr.USERHASH, createHash('sha256').update(`${v.LONG_TERM_USERNAME}:${v.LONG_TERM_REALM}`).digest())
      .addString(Attr.NONCE, v.RFC8489_NONCE)
      .addString(Attr.REALM, v.LONG_TERM_REALM)
      .addUint32(Attr.PASSWORD_ALGORITHM, 0x00020000)
      .addMessageIntegritySha256(sha256Key);
    expect(w.view().toString('hex')).toBe(v.RFC8489_SAMPLE_REQUEST_SHA256.toString('hex'));
  });
});

describe('writer reproduces the RFC 5769 responses up to padding bytes', () => {
  it('IPv4 and IPv6 responses verify and carry the same attribute values', () => {
    for (const [sample, address] of [
      [v.SAMPLE_IPV4_RESPONSE, { family: 4 as const, address: '192.0.2.1', port: 32853 }],
      [v.SAMPLE_IPV6_RESPONSE, { family: 6 as const, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }],
    ] as const) {
      const w = new StunWriter();
      w.reset(Method.Binding, StunClass.SuccessResponse, v.SAMPLE_TRANSACTION_ID)
        .addString(Attr.SOFTWARE, 'test vector')
        .addXorAddress(Attr.XOR_MAPPED_ADDRESS, address)
        .addMessageIntegrity(shortTermKey)
        .addFingerprint();
      const out = w.view();
      expect(out.length).toBe(sample.length);
      // Identical except the SOFTWARE padding byte (RFC: 0x20, ours: 0x00), so MI and FINGERPRINT differ too.
      expect(out.subarray(0, 35).equals(sample.subarray(0, 35))).toBe(true);
      expect(out.subarray(36, out.length - 32).equals(sample.subarray(36, sample.length - 32))).toBe(true);
      const m = decode(out);
      expect(readXorAddress(m, Attr.XOR_MAPPED_ADDRESS)).toEqual(address);
      expect(verifyIntegrity(m, shortTermKey)).toBe('ok');
      expect(verifyFingerprint(m)).toBe('ok');
    }
  });
});
