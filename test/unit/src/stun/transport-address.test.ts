import { SocketAddress } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  formatIPv4,
  formatIPv6,
  parseIPv4,
  parseIPv6,
  sameTransportAddress,
} from '../../../../src/stun/index.js';
import { Prng } from './fixtures/prng.js';

/** Node's own textual form, the reference for formatIPv6. */
function nodeForm(bytes: Buffer): string {
  const text = Array.from({ length: 8 }, (_, k) => bytes.readUInt16BE(2 * k).toString(16)).join(':');
  return new SocketAddress({ address: text, family: 'ipv6' }).address;
}

describe('IPv4 text', () => {
  it('parses and formats dotted quads', () => {
    const out = Buffer.alloc(4);
    expect(parseIPv4('192.0.2.1', out)).toBe(true);
    expect([...out]).toEqual([192, 0, 2, 1]);
    expect(formatIPv4(out)).toBe('192.0.2.1');
    expect(parseIPv4('255.255.255.255', out)).toBe(true);
    expect(formatIPv4(out)).toBe('255.255.255.255');
  });

  it('rejects malformed text', () => {
    const out = Buffer.alloc(4);
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', 'a.b.c.d', '1.2.3.4 ', '1234.1.1.1', '::1']) {
      expect(parseIPv4(bad, out)).toBe(false);
    }
  });
});

describe('IPv6 text', () => {
  it('parses the usual forms', () => {
    const out = Buffer.alloc(16);
    const cases: [string, string][] = [
      ['::', '00000000000000000000000000000000'],
      ['::1', '00000000000000000000000000000001'],
      ['1::', '00010000000000000000000000000000'],
      ['2001:db8::1', '20010db8000000000000000000000001'],
      ['2001:DB8:1234:5678:11:2233:4455:6677', '20010db8123456780011223344556677'],
      ['::ffff:192.0.2.1', '00000000000000000000ffffc0000201'],
      ['64:ff9b::10.0.0.1', '0064ff9b00000000000000000a000001'],
      ['fe80::1%eth0', 'fe800000000000000000000000000001'],
      ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
      ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ];
    for (const [text, bytes] of cases) {
      out.fill(0xee);
      expect(parseIPv6(text, out), text).toBe(true);
      expect(out.toString('hex'), text).toBe(bytes);
    }
  });

  it('rejects malformed text', () => {
    const out = Buffer.alloc(16);
    for (const bad of [
      '', ':', ':::', '1:2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '12345::', 'g::1', '1:2:3:4:5:6:7:',
      ':1:2:3:4:5:6:7', '::1.2.3', '::1.2.3.4.5', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4',
    ]) {
      expect(parseIPv6(bad, out), bad).toBe(false);
    }
  });

  it("formats exactly like Node's (libuv inet_ntop) for special and random addresses", () => {
    const rng = new Prng(42);
    const b = Buffer.alloc(16);
    const special = [
      '00000000000000000000000000000000',
      '00000000000000000000000000000001',
      '00000000000000000000ffffc0000201',
      '00000000000000000000000001020304',
      '00010000000000020000000000000003',
      '20010db8000000000001000000000001',
      '00000000000100000000000000000000',
    ];
    for (const h of special) {
      const bytes = Buffer.from(h, 'hex');
      expect(formatIPv6(bytes), h).toBe(nodeForm(bytes));
    }
    for (let i = 0; i < 3000; i++) {
      // Sparse random words so that zero runs of every length and position occur.
      for (let k = 0; k < 8; k++) b.writeUInt16BE(rng.next() < 0.5 ? 0 : rng.int(0x10000), 2 * k);
      const expected = nodeForm(b);
      if (formatIPv6(b) !== expected) throw new Error(`${b.toString('hex')}: ${formatIPv6(b)} != ${expected}`);
      const back = Buffer.alloc(16);
      expect(parseIPv6(expected, back)).toBe(true);
      expect(back.equals(b)).toBe(true);
    }
  });
});

describe('sameTransportAddress', () => {
  it('compares family, address and port', () => {
    const a = { family: 4 as const, address: '10.0.0.1', port: 5 };
    expect(sameTransportAddress(a, { ...a })).toBe(true);
    expect(sameTransportAddress(a, { ...a, port: 6 })).toBe(false);
    expect(sameTransportAddress(a, { ...a, address: '10.0.0.2' })).toBe(false);
  });
});
