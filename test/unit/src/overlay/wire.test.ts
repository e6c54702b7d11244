import { describe, expect, it } from 'vitest';
import {
  FLAG_DUPLICATED,
  FLAG_ECHO,
  HEADER_LENGTH,
  MAC_LENGTH,
  OverlayType,
  dataTemplate,
  decodeOverlay,
  probeTemplate,
  stampHeader,
  type OverlayPacket,
} from '../../../../src/overlay/wire.js';
import { OverlayKeyring, overlayKeyId } from '../../../../src/overlay/keyring.js';

const src4 = { family: 4 as const, address: '10.9.9.11', port: 49152 };
const dst6 = { family: 6 as const, address: '2001:db8::7', port: 65535 };

function packet(template: Buffer, payload: Buffer, keyring: OverlayKeyring, packetId: number): Buffer {
  const head = Buffer.from(template);
  stampHeader(head, {
    keyId: keyring.signingKeyId!, flags: FLAG_DUPLICATED | FLAG_ECHO, packetId,
    sendTimestamp: 0xfffffff0, echoReference: 12345, echoDelta: 678,
  });
  return Buffer.concat([head, payload, keyring.sign([head, payload])!]);
}

function decoded(buf: Buffer): OverlayPacket {
  const p = decodeOverlay(buf);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

describe('overlay wire format', () => {
  const keys = new OverlayKeyring();
  keys.setKeys(['k-new', 'k-old']);

  it('round-trips a DATA packet with mixed families, a 53-bit packet id and every field', () => {
    const template = dataTemplate(0xdeadbeef, src4, dst6)!;
    const payload = Buffer.from('hello overlay');
    const buf = packet(template, payload, keys, 2 ** 53 - 1);
    expect(buf.length).toBe(HEADER_LENGTH + 6 + 18 + payload.length + MAC_LENGTH);
    const p = decoded(buf);
    expect(p.type).toBe(OverlayType.Data);
    expect(p.flowId).toBe(0xdeadbeef);
    expect(p.packetId).toBe(2 ** 53 - 1);
    expect(p.flags).toBe(FLAG_DUPLICATED | FLAG_ECHO);
    expect(p.keyId).toBe(overlayKeyId('k-new'));
    expect([p.sendTimestamp, p.echoReference, p.echoDelta]).toEqual([0xfffffff0, 12345, 678]);
    expect(p.source).toEqual(src4);
    expect(p.destination).toEqual(dst6);
    expect(p.payload.toString()).toBe('hello overlay');
    expect(keys.verify(p.keyId, p.signed, p.mac)).toBe('ok');
  });

  it('carries an empty payload and a PROBE without addresses', () => {
    const p = decoded(packet(dataTemplate(1, src4, src4)!, Buffer.alloc(0), keys, 0));
    expect(p.payload.length).toBe(0);
    const probe = decoded(packet(probeTemplate(), Buffer.alloc(0), keys, 5));
    expect(probe.type).toBe(OverlayType.Probe);
    expect(probe.source).toBeUndefined();
    expect(probe.packetId).toBe(5);
    expect(keys.verify(probe.keyId, probe.signed, probe.mac)).toBe('ok');
  });

  it('refuses an address that does not parse when the template is built', () => {
    expect(dataTemplate(1, { family: 4, address: 'not-an-ip', port: 1 }, src4)).toBeUndefined();
  });

  it('returns a typed reason for malformed datagrams, never throws', () => {
    const good = packet(dataTemplate(7, src4, src4)!, Buffer.from('x'), keys, 1);
    expect(decodeOverlay(Buffer.alloc(0))).toBe('too-short');
    expect(decodeOverlay(good.subarray(0, HEADER_LENGTH + MAC_LENGTH - 1))).toBe('too-short');
    const version = Buffer.from(good);
    version[0] = (2 << 4) | OverlayType.Data;
    expect(decodeOverlay(version)).toBe('bad-version');
    const type = Buffer.from(good);
    type[0] = (1 << 4) | 9;
    expect(decodeOverlay(type)).toBe('bad-type');
    const family = Buffer.from(good);
    family[3] = 0x45;
    expect(decodeOverlay(family)).toBe('bad-family');
    const id = Buffer.from(good);
    id.writeUInt32BE(0xffffffff, 8);
    expect(decodeOverlay(id)).toBe('bad-packet-id');
    // DATA whose addresses run into the MAC
    const short = Buffer.concat([dataTemplate(7, src4, dst6)!.subarray(0, HEADER_LENGTH + 10), Buffer.alloc(MAC_LENGTH)]);
    expect(decodeOverlay(short)).toBe('too-short');
    const probe = Buffer.concat([probeTemplate(), Buffer.alloc(MAC_LENGTH)]);
    probe[3] = 0x44;
    expect(decodeOverlay(probe)).toBe('bad-family');
    // random bytes: a reason or a packet, never an exception
    for (let i = 0; i < 2000; i++) {
      const r = Buffer.alloc(i % 120);
      for (let k = 0; k < r.length; k++) r[k] = (i * 31 + k * 17) & 0xff;
      expect(() => decodeOverlay(r)).not.toThrow();
    }
  });

  it('MAC: any flipped bit fails, an unknown key id is told apart, a retired key stops verifying', () => {
    const good = packet(dataTemplate(7, src4, src4)!, Buffer.from('payload'), keys, 1);
    for (const at of [0, 4, 9, 20, HEADER_LENGTH + 2, good.length - MAC_LENGTH - 1, good.length - 1]) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x01;
      const p = decodeOverlay(bad);
      if (typeof p === 'string') continue; // the flip made it malformed: dropped either way
      expect(keys.verify(p.keyId, p.signed, p.mac)).not.toBe('ok');
    }
    const p = decoded(good);
    const other = new OverlayKeyring();
    other.setKeys(['someone-else']);
    expect(other.verify(p.keyId, p.signed, p.mac)).toBe(overlayKeyId('someone-else') === p.keyId ? 'bad-mac' : 'unknown-key');
    const rotated = new OverlayKeyring();
    rotated.setKeys(['k-newer', 'k-new']);
    expect(rotated.verify(p.keyId, p.signed, p.mac)).toBe('ok');
    rotated.setKeys(['k-newer']);
    expect(rotated.verify(p.keyId, p.signed, p.mac)).not.toBe('ok');
    const empty = new OverlayKeyring();
    expect(empty.sign([good])).toBeUndefined();
    expect(empty.verify(p.keyId, p.signed, p.mac)).toBe('unknown-key');
  });
});
