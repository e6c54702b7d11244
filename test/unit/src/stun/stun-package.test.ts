/**
 * Cross-check with an independent implementation: the `stun` npm package (v2, nodertc/stun).
 * Messages our writer encodes are decoded by `stun`, and messages `stun` encodes are decoded by us.
 *
 * Known `stun` v2 bug: its ERROR-CODE decoder computes class * (number + 100) (so 438 reads as 552); only
 * codes with number 0 (300, 400, 500) survive its decoder, and its MESSAGE-INTEGRITY / FINGERPRINT validators
 * (which re-encode the decoded message) fail on messages with other codes. Its encoder is correct.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  newTransactionId,
  readAddress,
  readErrorCode,
  readString,
  readUint32,
  readUnknownAttributes,
  readXorAddress,
  verifyFingerprint,
  verifyIntegrity,
} from '../../../../src/stun/index.js';
import { decode } from './fixtures/decode.js';

interface StunAddress {
  address: string;
  port: number;
  family: string;
}
interface StunAttributeLike {
  type: number;
  value: unknown;
}
interface StunResponseLike {
  type: number;
  transactionId: Buffer;
  count: number;
  getXorAddress(): StunAddress | undefined;
  getAddress(): StunAddress | undefined;
  getUsername(): string | undefined;
  getRealm(): string | undefined;
  getNonce(): string | undefined;
  getSoftware(): string | undefined;
  getError(): { code: number; reason: string } | undefined;
  getUnknownAttributes(): number[] | undefined;
  getMessageIntegrity(): Buffer | undefined;
  getFingerprint(): number | undefined;
  getPriority(): number | undefined;
  getAttribute(type: number): StunAttributeLike | undefined;
}
interface StunRequestLike {
  addAttribute(type: number, ...args: unknown[]): unknown;
  addXorAddress(address: string, port: number): unknown;
  addAddress(address: string, port: number): unknown;
  addUsername(u: string): unknown;
  addRealm(r: string): unknown;
  addNonce(n: string): unknown;
  addSoftware(s: string): unknown;
  addError(code: number, reason?: string): unknown;
  addUnknownAttributes(a: number[]): unknown;
  addPriority(p: number): unknown;
  addMessageIntegrity(key: string): unknown;
  addFingerprint(): unknown;
  toBuffer(): Buffer;
}
interface StunModule {
  createMessage(type: number, transaction?: Buffer): StunRequestLike;
  decode(b: Buffer): StunResponseLike;
  validateMessageIntegrity(m: StunResponseLike, key: string): boolean;
  validateFingerprint(m: StunResponseLike): boolean;
  constants: Record<string, number>;
}

const stun = createRequire(import.meta.url)('stun') as StunModule;
const c = stun.constants;

const password = 'cross-check password';
const key = Buffer.from(password, 'utf8');

describe('our writer -> stun decoder', () => {
  it('Binding success response: XOR-MAPPED-ADDRESS (v4), MAPPED-ADDRESS, SOFTWARE, MI, FINGERPRINT', () => {
    const tid = newTransactionId();
    const out = new StunWriter()
      .reset(Method.Binding, StunClass.SuccessResponse, tid)
      .addXorAddress(Attr.XOR_MAPPED_ADDRESS, { family: 4, address: '198.51.100.23', port: 61000 })
      .addAddress(Attr.MAPPED_ADDRESS, { family: 4, address: '198.51.100.23', port: 61000 })
      .addString(Attr.SOFTWARE, 'anyturn')
      .addMessageIntegrity(key)
      .addFingerprint()
      .toBuffer();
    const r = stun.decode(out);
    expect(r.type).toBe(c.STUN_BINDING_RESPONSE);
    expect(r.transactionId.equals(tid)).toBe(true);
    expect(r.getXorAddress()).toEqual({ address: '198.51.100.23', port: 61000, family: 'IPv4' });
    expect(r.getAddress()).toEqual({ address: '198.51.100.23', port: 61000, family: 'IPv4' });
    expect(r.getSoftware()).toBe('anyturn');
    expect(stun.validateMessageIntegrity(r, password)).toBe(true);
    expect(stun.validateMessageIntegrity(r, 'wrong')).toBe(false);
    expect(stun.validateFingerprint(r)).toBe(true);
  });

  it('IPv6 XOR-MAPPED-ADDRESS (XOR with cookie and transaction id)', () => {
    for (const address of ['2001:db8::1', '2001:db8:1234:5678:11:2233:4455:6677', 'fe80::abcd:ef01']) {
      const out = new StunWriter()
        .reset(Method.Binding, StunClass.SuccessResponse, newTransactionId())
        .addXorAddress(Attr.XOR_MAPPED_ADDRESS, { family: 6, address, port: 3478 })
        .addFingerprint()
        .toBuffer();
      const r = stun.decode(out);
      expect(r.getXorAddress()).toEqual({ address, port: 3478, family: 'IPv6' });
      expect(stun.validateFingerprint(r)).toBe(true);
    }
  });

  it('Allocate error response: ERROR-CODE, REALM, NONCE, UNKNOWN-ATTRIBUTES, MI, FINGERPRINT', () => {
    const out = new StunWriter()
      .reset(Method.Allocate, StunClass.ErrorResponse, newTransactionId())
      .addErrorCode(400)
      .addString(Attr.REALM, 'example.org')
      .addString(Attr.NONCE, 'abcdef0123456789')
      .addUnknownAttributes([0x0003, 0x7001, 0x0005])
      .addMessageIntegrity(key)
      .addFingerprint()
      .toBuffer();
    const r = stun.decode(out);
    expect(r.type).toBe(c.STUN_ALLOCATE_ERROR_RESPONSE);
    expect(r.getError()).toEqual({ code: 400, reason: 'Bad Request' });
    expect(r.getRealm()).toBe('example.org');
    expect(r.getNonce()).toBe('abcdef0123456789');
    expect(r.getUnknownAttributes()).toEqual([0x0003, 0x7001, 0x0005]);
    expect(stun.validateMessageIntegrity(r, password)).toBe(true);
    expect(stun.validateFingerprint(r)).toBe(true);
  });

  it('ERROR-CODE wire bytes match what stun encodes for the same code', () => {
    for (const code of [300, 401, 420, 437, 438, 441, 442, 486, 508]) {
      const tid = newTransactionId();
      const ours = new StunWriter().reset(Method.Allocate, StunClass.ErrorResponse, tid).addErrorCode(code, 'r').toBuffer();
      const theirs = stun.createMessage(c.STUN_ALLOCATE_ERROR_RESPONSE, tid);
      theirs.addError(code, 'r');
      expect(ours.toString('hex'), String(code)).toBe(theirs.toBuffer().toString('hex'));
    }
  });

  it('TURN request: USERNAME, REALM, NONCE, LIFETIME, XOR-PEER-ADDRESS, REQUESTED-TRANSPORT, MI', () => {
    const out = new StunWriter()
      .reset(Method.CreatePermission, StunClass.Request, newTransactionId())
      .addString(Attr.USERNAME, 'alice')
      .addString(Attr.REALM, 'example.org')
      .addString(Attr.NONCE, 'nonce-1')
      .addUint32(Attr.LIFETIME, 600)
      .addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 4, address: '203.0.113.5', port: 0 })
      .addRequestedTransport(17)
      .addMessageIntegrity(key)
      .toBuffer();
    const r = stun.decode(out);
    expect(r.type).toBe(c.STUN_CREATE_PERMISSION_REQUEST);
    expect(r.getUsername()).toBe('alice');
    expect(r.getAttribute(c.STUN_ATTR_LIFETIME)?.value).toBe(600);
    expect(r.getAttribute(c.STUN_ATTR_REQUESTED_TRANSPORT)?.value).toBe(0x11000000);
    expect(r.getAttribute(c.STUN_ATTR_XOR_PEER_ADDRESS)?.value).toEqual({ address: '203.0.113.5', port: 0, family: 'IPv4' });
    expect(stun.validateMessageIntegrity(r, password)).toBe(true);
  });
});

describe('stun encoder -> our decoder', () => {
  it('Binding response with XOR-MAPPED-ADDRESS (v4 and v6), SOFTWARE, MI, FINGERPRINT', () => {
    for (const [address, family] of [
      ['192.0.2.77', 4],
      ['2001:db8:1234:5678:11:2233:4455:6677', 6],
    ] as const) {
      const tid = newTransactionId();
      const m = stun.createMessage(c.STUN_BINDING_RESPONSE, tid);
      m.addXorAddress(address, 40000);
      m.addSoftware('node stun');
      m.addMessageIntegrity(password);
      m.addFingerprint();
      const ours = decode(m.toBuffer());
      expect(ours.method).toBe(Method.Binding);
      expect(ours.cls).toBe(StunClass.SuccessResponse);
      expect(ours.transactionId.equals(tid)).toBe(true);
      expect(readXorAddress(ours, Attr.XOR_MAPPED_ADDRESS)).toEqual({ family, address, port: 40000 });
      expect(readString(ours, Attr.SOFTWARE)).toBe('node stun');
      expect(verifyIntegrity(ours, key)).toBe('ok');
      expect(verifyIntegrity(ours, Buffer.from('wrong'))).toBe('mismatch');
      expect(verifyFingerprint(ours)).toBe('ok');
    }
  });

  it('Error response with ERROR-CODE, USERNAME, UNKNOWN-ATTRIBUTES, MAPPED-ADDRESS, PRIORITY', () => {
    for (const code of [300, 400, 401, 420, 438, 487, 500]) {
      const m = stun.createMessage(c.STUN_BINDING_ERROR_RESPONSE);
      m.addError(code);
      m.addUsername('evtj:h6vY');
      m.addUnknownAttributes([0x0003, 0x7001]);
      m.addAddress('10.20.30.40', 5);
      m.addPriority(0x6e0001ff);
      m.addMessageIntegrity(password);
      m.addFingerprint();
      const ours = decode(m.toBuffer());
      expect(ours.cls).toBe(StunClass.ErrorResponse);
      const err = readErrorCode(ours);
      expect(err !== undefined && err !== 'bad-attribute' && err.code).toBe(code);
      expect(readString(ours, Attr.USERNAME)).toBe('evtj:h6vY');
      expect(readUnknownAttributes(ours)).toEqual([0x0003, 0x7001]);
      expect(readAddress(ours, Attr.MAPPED_ADDRESS)).toEqual({ family: 4, address: '10.20.30.40', port: 5 });
      expect(readUint32(ours, Attr.PRIORITY)).toBe(0x6e0001ff);
      expect(verifyIntegrity(ours, key)).toBe('ok');
      expect(verifyFingerprint(ours)).toBe('ok');
    }
  });

  it('TURN attributes: XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS, LIFETIME, CHANNEL-NUMBER, DATA', () => {
    const m = stun.createMessage(c.STUN_ALLOCATE_RESPONSE);
    m.addAttribute(c.STUN_ATTR_XOR_RELAYED_ADDRESS, '2001:db8::99', 50000);
    m.addAttribute(c.STUN_ATTR_XOR_PEER_ADDRESS, '203.0.113.1', 1);
    m.addAttribute(c.STUN_ATTR_LIFETIME, 3600);
    m.addAttribute(c.STUN_ATTR_CHANNEL_NUMBER, 0x40010000);
    m.addAttribute(c.STUN_ATTR_DATA, Buffer.from('payload!x'));
    const ours = decode(m.toBuffer());
    expect(ours.method).toBe(Method.Allocate);
    expect(readXorAddress(ours, Attr.XOR_RELAYED_ADDRESS)).toEqual({ family: 6, address: '2001:db8::99', port: 50000 });
    expect(readXorAddress(ours, Attr.XOR_PEER_ADDRESS)).toEqual({ family: 4, address: '203.0.113.1', port: 1 });
    expect(readUint32(ours, Attr.LIFETIME)).toBe(3600);
    expect(ours.value(Attr.CHANNEL_NUMBER)?.readUInt16BE(0)).toBe(0x4001);
    expect(ours.value(Attr.DATA)?.toString()).toBe('payload!x');
    expect(verifyIntegrity(ours, key)).toBe('missing');
    expect(verifyFingerprint(ours)).toBe('missing');
  });
});
