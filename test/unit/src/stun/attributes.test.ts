import { describe, expect, it } from 'vitest';
import {
  Attr,
  Method,
  StunClass,
  StunMessage,
  StunWriter,
  readAddress,
  readChannelNumber,
  readData,
  readErrorCode,
  readEvenPort,
  readRequestedAddressFamily,
  readRequestedTransport,
  readReservationToken,
  readString,
  readUint32,
  readUnknownAttributes,
  readXorAddress,
  readXorAddresses,
} from '../../../../src/stun/index.js';
import { decode } from './fixtures/decode.js';

const tid = Buffer.from('0102030405060708090a0b0c', 'hex');

/** A message with raw attribute values written with addBytes. */
function withRaw(...attrs: [number, string][]): StunMessage {
  const w = new StunWriter().reset(Method.Allocate, StunClass.Request, tid);
  for (const [type, h] of attrs) w.addBytes(type, Buffer.from(h.replace(/ /g, ''), 'hex'));
  return decode(w.view());
}

const empty = decode(new StunWriter().reset(Method.Allocate, StunClass.Request, tid).view());

describe('absent attributes read as undefined', () => {
  it('for every reader', () => {
    expect(readXorAddress(empty, Attr.XOR_PEER_ADDRESS)).toBeUndefined();
    expect(readXorAddresses(empty, Attr.XOR_PEER_ADDRESS)).toEqual([]);
    expect(readAddress(empty, Attr.MAPPED_ADDRESS)).toBeUndefined();
    expect(readUint32(empty, Attr.LIFETIME)).toBeUndefined();
    expect(readString(empty, Attr.USERNAME)).toBeUndefined();
    expect(readErrorCode(empty)).toBeUndefined();
    expect(readChannelNumber(empty)).toBeUndefined();
    expect(readRequestedTransport(empty)).toBeUndefined();
    expect(readRequestedAddressFamily(empty)).toBeUndefined();
    expect(readEvenPort(empty)).toBeUndefined();
    expect(readUnknownAttributes(empty)).toBeUndefined();
    expect(readReservationToken(empty)).toBeUndefined();
    expect(readData(empty)).toBeUndefined();
  });
});

describe('address readers', () => {
  it('read XOR and plain addresses written by the writer', () => {
    const w = new StunWriter().reset(Method.CreatePermission, StunClass.Request, tid);
    const peers = [
      { family: 4 as const, address: '203.0.113.9', port: 0 },
      { family: 6 as const, address: '2001:db8::42', port: 65535 },
      { family: 6 as const, address: '::ffff:198.51.100.1', port: 9 },
    ];
    for (const p of peers) w.addXorAddress(Attr.XOR_PEER_ADDRESS, p);
    w.addAddress(Attr.MAPPED_ADDRESS, { family: 4, address: '10.1.2.3', port: 4 });
    const m = decode(w.view());
    expect(readXorAddress(m, Attr.XOR_PEER_ADDRESS)).toEqual(peers[0]);
    expect(readXorAddresses(m, Attr.XOR_PEER_ADDRESS)).toEqual(peers);
    expect(readAddress(m, Attr.MAPPED_ADDRESS)).toEqual({ family: 4, address: '10.1.2.3', port: 4 });
  });

  it("return 'bad-attribute' for wrong family or length", () => {
    const cases = [
      '00030000 00000000', // family 3
      '00010000 000000', // IPv4 with 3 address bytes
      '00010000 00000000 00000000', // IPv4 with 8 address bytes
      '00020000 00000000', // IPv6 with 4 address bytes
      '0001', // too short for the header
      '',
    ];
    for (const h of cases) {
      const m = withRaw([Attr.XOR_PEER_ADDRESS, h], [Attr.MAPPED_ADDRESS, h]);
      expect(readXorAddress(m, Attr.XOR_PEER_ADDRESS), h).toBe('bad-attribute');
      expect(readAddress(m, Attr.MAPPED_ADDRESS), h).toBe('bad-attribute');
    }
  });

  it("readXorAddresses is 'bad-attribute' when any occurrence is malformed", () => {
    const m = withRaw([Attr.XOR_PEER_ADDRESS, '0001a147 e112a643'], [Attr.XOR_PEER_ADDRESS, '00030000']);
    expect(readXorAddresses(m, Attr.XOR_PEER_ADDRESS)).toBe('bad-attribute');
    expect(readXorAddress(m, Attr.XOR_PEER_ADDRESS)).toEqual({ family: 4, address: '192.0.2.1', port: 32853 });
  });
});

describe('scalar readers', () => {
  it('readUint32 needs exactly 4 bytes', () => {
    expect(readUint32(withRaw([Attr.LIFETIME, 'ffffffff']), Attr.LIFETIME)).toBe(0xffffffff);
    expect(readUint32(withRaw([Attr.LIFETIME, '000258']), Attr.LIFETIME)).toBe('bad-attribute');
    expect(readUint32(withRaw([Attr.LIFETIME, '00000258 00']), Attr.LIFETIME)).toBe('bad-attribute');
  });

  it('readString decodes UTF-8 and accepts empty values', () => {
    expect(readString(withRaw([Attr.REALM, '']), Attr.REALM)).toBe('');
    expect(readString(withRaw([Attr.USERNAME, 'e3839e']), Attr.USERNAME)).toBe('\u30de');
  });

  it('readErrorCode checks class 3..6 and number 0..99', () => {
    expect(readErrorCode(withRaw([Attr.ERROR_CODE, '00000401 556e61757468']))).toEqual({ code: 401, reason: 'Unauth' });
    expect(readErrorCode(withRaw([Attr.ERROR_CODE, '0000061d']))).toEqual({ code: 629, reason: '' });
    expect(readErrorCode(withRaw([Attr.ERROR_CODE, 'fffffc04']))).toEqual({ code: 404, reason: '' }); // reserved bits ignored
    expect(readErrorCode(withRaw([Attr.ERROR_CODE, '00000264']))).toBe('bad-attribute'); // class 2
    expect(readErrorCode(withRaw([Attr.ERROR_CODE, '00000700']))).toBe('bad-attribute'); // class 7
    expect(readErrorCode(withRaw([Attr.ERROR_CODE, '00000464']))).toBe('bad-attribute'); // number 100
    expect(readErrorCode(withRaw([Attr.ERROR_CODE, '000004']))).toBe('bad-attribute');
  });

  it('readChannelNumber returns the number (range checks are the caller’s)', () => {
    expect(readChannelNumber(withRaw([Attr.CHANNEL_NUMBER, '40000000']))).toBe(0x4000);
    expect(readChannelNumber(withRaw([Attr.CHANNEL_NUMBER, '7fffffff']))).toBe(0x7fff);
    expect(readChannelNumber(withRaw([Attr.CHANNEL_NUMBER, '4000']))).toBe('bad-attribute');
  });

  it('readRequestedTransport returns the protocol byte', () => {
    expect(readRequestedTransport(withRaw([Attr.REQUESTED_TRANSPORT, '11000000']))).toBe(17);
    expect(readRequestedTransport(withRaw([Attr.REQUESTED_TRANSPORT, '06000000']))).toBe(6);
    expect(readRequestedTransport(withRaw([Attr.REQUESTED_TRANSPORT, '11']))).toBe('bad-attribute');
  });

  it('readRequestedAddressFamily maps 0x01/0x02 and reads ADDITIONAL-ADDRESS-FAMILY', () => {
    expect(readRequestedAddressFamily(withRaw([Attr.REQUESTED_ADDRESS_FAMILY, '01000000']))).toBe(4);
    expect(readRequestedAddressFamily(withRaw([Attr.REQUESTED_ADDRESS_FAMILY, '02000000']))).toBe(6);
    expect(readRequestedAddressFamily(withRaw([Attr.REQUESTED_ADDRESS_FAMILY, '03000000']))).toBe('bad-attribute');
    expect(readRequestedAddressFamily(withRaw([Attr.REQUESTED_ADDRESS_FAMILY, '01']))).toBe('bad-attribute');
    const m = withRaw([Attr.ADDITIONAL_ADDRESS_FAMILY, '02000000']);
    expect(readRequestedAddressFamily(m)).toBeUndefined();
    expect(readRequestedAddressFamily(m, Attr.ADDITIONAL_ADDRESS_FAMILY)).toBe(6);
  });

  it('readEvenPort reads the R bit', () => {
    expect(readEvenPort(withRaw([Attr.EVEN_PORT, '80']))).toEqual({ reserve: true });
    expect(readEvenPort(withRaw([Attr.EVEN_PORT, '00']))).toEqual({ reserve: false });
    expect(readEvenPort(withRaw([Attr.EVEN_PORT, '']))).toBe('bad-attribute');
  });

  it('readUnknownAttributes reads 16-bit types', () => {
    expect(readUnknownAttributes(withRaw([Attr.UNKNOWN_ATTRIBUTES, '0003 7001 c000']))).toEqual([3, 0x7001, 0xc000]);
    expect(readUnknownAttributes(withRaw([Attr.UNKNOWN_ATTRIBUTES, '']))).toEqual([]);
    expect(readUnknownAttributes(withRaw([Attr.UNKNOWN_ATTRIBUTES, '000300']))).toBe('bad-attribute');
  });

  it('readReservationToken needs 8 bytes; readData returns the payload subarray', () => {
    const m = withRaw([Attr.RESERVATION_TOKEN, '0102030405060708'], [Attr.DATA, 'cafe']);
    expect(readReservationToken(m)?.toString()).toBe(Buffer.from('0102030405060708', 'hex').toString());
    expect(readReservationToken(withRaw([Attr.RESERVATION_TOKEN, '01']))).toBe('bad-attribute');
    const data = readData(m);
    expect(data?.toString('hex')).toBe('cafe');
    expect(data?.buffer).toBe(m.raw.buffer);
  });

  it('read the first occurrence of a repeated attribute', () => {
    const m = withRaw([Attr.LIFETIME, '00000001'], [Attr.LIFETIME, '00000002']);
    expect(readUint32(m, Attr.LIFETIME)).toBe(1);
  });
});
