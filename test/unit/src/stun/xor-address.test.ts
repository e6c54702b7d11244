import { describe, expect, it } from 'vitest';
import { addressValueLength, decodeAddressAt, encodeAddressAt, MAGIC_COOKIE } from '../../../../src/stun/index.js';

/** A 20-byte header holding the cookie and a transaction id, as the XOR helpers expect. */
function header(tidHex: string): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32BE(MAGIC_COOKIE, 4);
  Buffer.from(tidHex, 'hex').copy(h, 8);
  return h;
}

describe('XOR address helpers', () => {
  const h = header('b7e7a701bc34d686fa87dfae');

  it('encode then decode round-trips with and without XOR, at any offset', () => {
    const target = Buffer.alloc(64, 0xcc);
    for (const a of [
      { family: 4 as const, address: '0.0.0.0', port: 0 },
      { family: 4 as const, address: '255.255.255.255', port: 65535 },
      { family: 6 as const, address: '::', port: 1 },
      { family: 6 as const, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 },
    ]) {
      for (const xor of [h, undefined]) {
        const n = encodeAddressAt(target, 7, a, xor);
        expect(n).toBe(addressValueLength(a.family));
        expect(decodeAddressAt(target, 7, n, xor)).toEqual(a);
      }
    }
  });

  it('produces the RFC 5769 §2.3 bytes', () => {
    const target = Buffer.alloc(20);
    encodeAddressAt(target, 0, { family: 6, address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 }, h);
    expect(target.toString('hex')).toBe('0002a1470113a9faa5d3f179bc25f4b5bed2b9d9');
  });

  it("decodeAddressAt returns 'bad-attribute' for bounds, length and family problems", () => {
    const v4 = Buffer.from('0001a147e112a643', 'hex');
    expect(decodeAddressAt(v4, 0, 8, h)).toEqual({ family: 4, address: '192.0.2.1', port: 32853 });
    expect(decodeAddressAt(v4, 0, 9, h)).toBe('bad-attribute'); // beyond the buffer
    expect(decodeAddressAt(v4, 4, 8, h)).toBe('bad-attribute');
    expect(decodeAddressAt(v4, -1, 8, h)).toBe('bad-attribute');
    expect(decodeAddressAt(v4, 0, 3, h)).toBe('bad-attribute');
    expect(decodeAddressAt(v4, 0, 8, Buffer.alloc(4))).toBe('bad-attribute'); // header too short
  });

  it('encodeAddressAt returns -1 for unparsable addresses, bad ports and families', () => {
    const t = Buffer.alloc(20);
    expect(encodeAddressAt(t, 0, { family: 4, address: 'example.org', port: 1 }, h)).toBe(-1);
    expect(encodeAddressAt(t, 0, { family: 6, address: '1.2.3.4', port: 1 }, h)).toBe(-1);
    expect(encodeAddressAt(t, 0, { family: 4, address: '1.2.3.4', port: 1.5 }, h)).toBe(-1);
    expect(encodeAddressAt(t, 0, { family: 5 as 4, address: '1.2.3.4', port: 1 }, h)).toBe(-1);
  });
});
