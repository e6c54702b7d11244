import { describe, expect, it } from 'vitest';
import {
  Attr,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  Method,
  StunClass,
  StunMessage,
  StunWriter,
  decodeStun,
  newTransactionId,
  readAddress,
  readErrorCode,
  readXorAddress,
} from '../../../../src/stun/index.js';
import { decode } from './fixtures/decode.js';
import { AnyturnError } from '../../../../src/errors.js';

const tid = Buffer.from('000102030405060708090a0b', 'hex');

describe('StunWriter header', () => {
  it('writes type, zero length, cookie and transaction id on reset', () => {
    const w = new StunWriter();
    const out = w.reset(Method.Allocate, StunClass.ErrorResponse, tid).view();
    expect(out.length).toBe(HEADER_LENGTH);
    expect(out.readUInt16BE(0)).toBe(0x0113);
    expect(out.readUInt16BE(2)).toBe(0);
    expect(out.readUInt32BE(4)).toBe(MAGIC_COOKIE);
    expect(out.subarray(8, 20).equals(tid)).toBe(true);
    expect(w.length).toBe(20);
  });

  it('keeps the header length equal to the attributes written after every add', () => {
    const w = new StunWriter().reset(Method.Binding, StunClass.Request, tid);
    const steps: [() => void, number][] = [
      [() => w.addString(Attr.USERNAME, 'abcde'), 12],
      [() => w.addEmpty(Attr.DONT_FRAGMENT), 4],
      [() => w.addUint32(Attr.LIFETIME, 600), 8],
      [() => w.addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 6, address: '::1', port: 1 }), 24],
      [() => w.addEvenPort(true), 8],
    ];
    let expected = 0;
    for (const [add, grows] of steps) {
      add();
      expected += grows;
      expect(w.view().readUInt16BE(2)).toBe(expected);
      expect(w.view().length).toBe(HEADER_LENGTH + expected);
      expect(decodeStun(w.view())).toBeInstanceOf(StunMessage);
    }
  });

  it('rejects a transaction id that is not 12 bytes', () => {
    expect(() => new StunWriter().reset(Method.Binding, StunClass.Request, Buffer.alloc(11))).toThrow(AnyturnError);
  });
});

describe('StunWriter attributes', () => {
  it('zeroes padding even in a dirty caller buffer', () => {
    const target = Buffer.alloc(128, 0xff);
    const w = new StunWriter(target);
    w.reset(Method.Binding, StunClass.Request, tid).addString(Attr.SOFTWARE, 'a').addEvenPort(false);
    const out = w.view();
    expect(out.buffer).toBe(target.buffer); // written in place
    expect(out.subarray(20).toString('hex')).toBe('80220001610000000018000100000000');
  });

  it('writes XOR addresses for IPv4 and IPv6 (IPv6 XORed with cookie and transaction id)', () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.SuccessResponse, tid)
      .addXorAddress(Attr.XOR_MAPPED_ADDRESS, { family: 4, address: '192.0.2.1', port: 32853 })
      .addXorAddress(Attr.XOR_RELAYED_ADDRESS, { family: 6, address: '2001:db8::1', port: 49152 });
    const out = w.view();
    // IPv4: port ^ 0x2112, address ^ 0x2112a442
    expect(out.subarray(20, 32).toString('hex')).toBe('00200008' + '0001a147' + 'e112a643');
    // IPv6: address ^ (2112a442 || 000102030405060708090a0b)
    const expectedV6 = Buffer.from('20010db8000000000000000000000001', 'hex');
    const mask = Buffer.concat([Buffer.from('2112a442', 'hex'), tid]);
    for (let k = 0; k < 16; k++) expectedV6[k] ^= mask[k];
    expect(out.subarray(32, 36).toString('hex')).toBe('00160014');
    expect(out.readUInt16BE(38)).toBe(49152 ^ 0x2112);
    expect(out.subarray(40, 56).equals(expectedV6)).toBe(true);
    const m = decode(out);
    expect(readXorAddress(m, Attr.XOR_MAPPED_ADDRESS)).toEqual({ family: 4, address: '192.0.2.1', port: 32853 });
    expect(readXorAddress(m, Attr.XOR_RELAYED_ADDRESS)).toEqual({ family: 6, address: '2001:db8::1', port: 49152 });
  });

  it('writes plain addresses', () => {
    const w = new StunWriter();
    w.reset(Method.Allocate, StunClass.ErrorResponse, tid)
      .addAddress(Attr.ALTERNATE_SERVER, { family: 4, address: '198.51.100.7', port: 3478 })
      .addAddress(Attr.RESPONSE_ORIGIN, { family: 6, address: 'fe80::1', port: 5349 });
    expect(w.view().subarray(20, 32).toString('hex')).toBe('80230008' + '00010d96' + 'c6336407');
    const m = decode(w.view());
    expect(readAddress(m, Attr.ALTERNATE_SERVER)).toEqual({ family: 4, address: '198.51.100.7', port: 3478 });
    expect(readAddress(m, Attr.RESPONSE_ORIGIN)).toEqual({ family: 6, address: 'fe80::1', port: 5349 });
  });

  it('throws ATN_ERR_STUN_ENCODE for an address that does not parse or a bad port', () => {
    const w = new StunWriter().reset(Method.Binding, StunClass.Request, tid);
    for (const a of [
      { family: 4 as const, address: '::1', port: 1 },
      { family: 6 as const, address: '10.0.0.1', port: 1 },
      { family: 4 as const, address: '10.0.0.1', port: 65536 },
      { family: 4 as const, address: '10.0.0.1', port: -1 },
    ]) {
      let err: unknown;
      try {
        w.addXorAddress(Attr.XOR_PEER_ADDRESS, a);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AnyturnError);
      expect((err as AnyturnError).code).toBe('ATN_ERR_STUN_ENCODE');
    }
  });

  it('writes ERROR-CODE with the RFC phrase by default', () => {
    const w = new StunWriter();
    w.reset(Method.Allocate, StunClass.ErrorResponse, tid).addErrorCode(437);
    expect(w.view().subarray(20, 28).toString('hex')).toBe('00090017' + '00000425');
    expect(readErrorCode(decode(w.view()))).toEqual({ code: 437, reason: 'Allocation Mismatch' });
    w.reset(Method.Allocate, StunClass.ErrorResponse, tid).addErrorCode(401, 'Nope');
    expect(readErrorCode(decode(w.view()))).toEqual({ code: 401, reason: 'Nope' });
    expect(() => w.addErrorCode(700)).toThrow(AnyturnError);
    expect(() => w.addErrorCode(299)).toThrow(AnyturnError);
  });

  it('writes TURN attributes in their RFC layouts', () => {
    const w = new StunWriter();
    w.reset(Method.ChannelBind, StunClass.Request, tid)
      .addChannelNumber(0x4001)
      .addRequestedTransport(17)
      .addRequestedAddressFamily(Attr.REQUESTED_ADDRESS_FAMILY, 6)
      .addRequestedAddressFamily(Attr.ADDITIONAL_ADDRESS_FAMILY, 4)
      .addEvenPort(true)
      .addUnknownAttributes([0x0003, 0x7001, 0x0004]);
    expect(w.view().subarray(20).toString('hex')).toBe(
      '000c0004 40010000 00190004 11000000 00170004 02000000 80000004 01000000 00180001 80000000 000a0006 00037001 00040000'.replace(
        / /g,
        '',
      ),
    );
  });

  it('copies bytes and handles empty values', () => {
    const w = new StunWriter();
    w.reset(Method.Send, StunClass.Indication, tid).addBytes(Attr.DATA, Buffer.alloc(0)).addBytes(Attr.DATA, Buffer.from([1, 2, 3, 4, 5]));
    const m = decode(w.view());
    expect(m.values(Attr.DATA).map((b) => b.toString('hex'))).toEqual(['', '0102030405']);
  });

  it('writes UTF-8 strings with their byte length', () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.Request, tid).addString(Attr.USERNAME, 'マトリックス');
    expect(w.view().readUInt16BE(22)).toBe(18);
    expect(decode(w.view()).value(Attr.USERNAME)?.toString('utf8')).toBe('マトリックス');
  });
});

describe('StunWriter buffers', () => {
  it('grows its buffer for big values and keeps what was written', () => {
    const w = new StunWriter(Buffer.alloc(32));
    const data = Buffer.alloc(5000, 7);
    w.reset(Method.Send, StunClass.Indication, tid).addString(Attr.SOFTWARE, 'x').addBytes(Attr.DATA, data);
    const m = decode(w.view());
    expect(m.value(Attr.SOFTWARE)?.toString()).toBe('x');
    expect(m.value(Attr.DATA)?.equals(data)).toBe(true);
  });

  it('refuses a message longer than the 16-bit length field allows', () => {
    const w = new StunWriter().reset(Method.Send, StunClass.Indication, tid);
    w.addBytes(Attr.DATA, Buffer.alloc(65000));
    expect(() => w.addBytes(Attr.DATA, Buffer.alloc(1000))).toThrow(AnyturnError);
    expect(() => new StunWriter().reset(Method.Send, StunClass.Indication, tid).addBytes(Attr.DATA, Buffer.alloc(70000))).toThrow(
      AnyturnError,
    );
  });

  it('view() is reused by the next message; toBuffer() is a copy', () => {
    const w = new StunWriter();
    w.reset(Method.Binding, StunClass.Request, tid).addString(Attr.USERNAME, 'first');
    const copy = w.toBuffer();
    const view = w.view();
    expect(copy.equals(view)).toBe(true);
    w.reset(Method.Binding, StunClass.Request, newTransactionId()).addString(Attr.USERNAME, 'other');
    expect(copy.subarray(24, 29).toString()).toBe('first');
    expect(view.subarray(24, 29).toString()).toBe('other');
  });

  it('falls back to its own buffer when given one smaller than a header', () => {
    const w = new StunWriter(Buffer.alloc(4));
    expect(w.reset(Method.Binding, StunClass.Request, tid).view().length).toBe(20);
  });
});
