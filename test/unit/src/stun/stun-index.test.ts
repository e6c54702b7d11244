import { describe, expect, it } from 'vitest';
import * as stun from '../../../../src/stun/index.js';

/** The codec contract of TEAM.md: every name other parts import from src/stun/index.js. */
const CONTRACT = [
  'MAGIC_COOKIE', 'HEADER_LENGTH', 'StunClass', 'Method', 'Attr', 'isComprehensionRequired', 'KNOWN_ATTRIBUTES',
  'StunMessage', 'decodeStun', 'looksLikeStun', 'newTransactionId',
  'readXorAddress', 'readXorAddresses', 'readAddress', 'readUint32', 'readString', 'readErrorCode',
  'readChannelNumber', 'readRequestedTransport', 'readRequestedAddressFamily', 'readEvenPort', 'readUnknownAttributes',
  'StunWriter', 'verifyIntegrity', 'integrityKind', 'crc32', 'verifyFingerprint',
  'CHANNEL_MIN', 'CHANNEL_MAX', 'isChannelData', 'channelNumberOf', 'channelDataLength', 'checkChannelData',
  'writeChannelDataHeader', 'paddedLength', 'reasonPhrase',
];

const WRITER_METHODS = [
  'reset', 'addXorAddress', 'addAddress', 'addUint32', 'addBytes', 'addString', 'addEmpty', 'addErrorCode',
  'addUnknownAttributes', 'addChannelNumber', 'addRequestedTransport', 'addEvenPort', 'addRequestedAddressFamily',
  'addMessageIntegrity', 'addMessageIntegritySha256', 'addFingerprint', 'view', 'toBuffer',
];

describe('src/stun/index.ts', () => {
  it('exports every name of the codec contract', () => {
    const exported = stun as unknown as Record<string, unknown>;
    for (const name of CONTRACT) expect(exported[name], name).toBeDefined();
    expect(stun.MAGIC_COOKIE).toBe(0x2112a442);
    expect(stun.HEADER_LENGTH).toBe(20);
    expect([stun.CHANNEL_MIN, stun.CHANNEL_MAX]).toEqual([0x4000, 0x7fff]);
    expect(stun.StunClass).toEqual({ Request: 0, Indication: 1, SuccessResponse: 2, ErrorResponse: 3 });
  });

  it('StunWriter has every contract method and each add* returns the writer', () => {
    const w = new stun.StunWriter();
    for (const m of WRITER_METHODS) expect(typeof (w as unknown as Record<string, unknown>)[m], m).toBe('function');
    expect(w.reset(stun.Method.Binding, stun.StunClass.Request, stun.newTransactionId())).toBe(w);
    expect(w.addEmpty(stun.Attr.USE_CANDIDATE)).toBe(w);
  });

  it('StunMessage has every contract member', () => {
    const m = stun.decodeStun(new stun.StunWriter().reset(1, 0, Buffer.alloc(12)).addEmpty(0x25).view());
    if (typeof m === 'string') throw new Error(m);
    for (const k of ['raw', 'method', 'cls', 'transactionId', 'attributeCount']) expect(m[k as keyof typeof m], k).toBeDefined();
    for (const k of ['typeAt', 'valueAt', 'has', 'indexOf', 'value', 'values', 'unknownComprehensionRequired']) {
      expect(typeof m[k as keyof typeof m], k).toBe('function');
    }
  });
});
