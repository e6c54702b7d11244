import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { frameAt, MAX_FRAME_BYTES, StreamFramer } from '../../../../relay/listen/framing.js';
import { Method, StunClass, StunWriter, newTransactionId } from '../../../../src/stun/index.js';

function stun(bodyBytes = 8): Buffer {
  const w = new StunWriter().reset(Method.Binding, StunClass.Request, newTransactionId());
  if (bodyBytes > 0) w.addBytes(0x8022, randomBytes(bodyBytes - 4));
  return w.toBuffer();
}

/** ChannelData as a stream carries it: header + data + zero padding to 4. */
function channelData(channel: number, length: number): { wire: Buffer; message: Buffer } {
  const message = Buffer.alloc(4 + length);
  message.writeUInt16BE(channel, 0);
  message.writeUInt16BE(length, 2);
  randomBytes(length).copy(message, 4);
  const wire = Buffer.alloc((4 + length + 3) & ~3);
  message.copy(wire);
  return { wire, message };
}

function collect(): { framer: StreamFramer; out: Buffer[] } {
  const out: Buffer[] = [];
  return { framer: new StreamFramer((m) => out.push(Buffer.from(m))), out };
}

/** A random mix of STUN and (padded) ChannelData messages. */
function randomStream(count: number): { wire: Buffer; messages: Buffer[] } {
  const messages: Buffer[] = [];
  const parts: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    if (Math.random() < 0.5) {
      const m = stun(4 * (1 + Math.floor(Math.random() * 40)));
      messages.push(m);
      parts.push(m);
    } else {
      const cd = channelData(0x4000 + Math.floor(Math.random() * 0x1000), Math.floor(Math.random() * 300));
      messages.push(cd.message);
      parts.push(cd.wire);
    }
  }
  return { wire: Buffer.concat(parts), messages };
}

describe('frameAt', () => {
  it('frames STUN by 20 + length once the cookie is visible', () => {
    const m = stun(12);
    expect(frameAt(m, 0, 7)).toBe('short');
    expect(frameAt(m, 0, m.length)).toEqual({ length: 32, wireLength: 32 });
  });

  it('frames ChannelData by 4 + length, padded to 4 on the wire', () => {
    expect(frameAt(channelData(0x4001, 5).wire, 0, 3)).toBe('short');
    expect(frameAt(channelData(0x4001, 5).wire, 0, 4)).toEqual({ length: 9, wireLength: 12 });
    expect(frameAt(channelData(0x4001, 0).wire, 0, 4)).toEqual({ length: 4, wireLength: 4 });
    expect(frameAt(channelData(0x4001, 8).wire, 0, 4)).toEqual({ length: 12, wireLength: 12 });
    // RFC 5766 clients (coturn's uclient) use 0x5000-0x7FFF as well: framed, left to the core to judge.
    expect(frameAt(channelData(0x7abc, 3).wire, 0, 4)).toEqual({ length: 7, wireLength: 8 });
  });

  it('calls garbage what frames as neither', () => {
    expect(frameAt(Buffer.from([0x80, 0, 0, 0]), 0, 4)).toBe('garbage');
    expect(frameAt(Buffer.from([0xc0]), 0, 1)).toBe('garbage');
    const badCookie = stun(8);
    badCookie.writeUInt32BE(0xdeadbeef, 4);
    expect(frameAt(badCookie, 0, badCookie.length)).toBe('garbage');
    const badLength = stun(8);
    badLength.writeUInt16BE(6, 2);
    expect(frameAt(badLength, 0, badLength.length)).toBe('garbage');
    // A TLS ClientHello sent to the plain TCP port (0x16 0x03 ...) has no STUN cookie.
    expect(frameAt(Buffer.from('160301020001000000', 'hex'), 0, 9)).toBe('garbage');
  });
});

describe('StreamFramer', () => {
  it('hands a message that arrives whole as a subarray of the chunk (no copy)', () => {
    const seen: Buffer[] = [];
    const framer = new StreamFramer((m) => seen.push(m));
    const chunk = Buffer.concat([stun(8), channelData(0x4000, 6).wire]);
    expect(framer.push(chunk)).toBe('ok');
    expect(seen).toHaveLength(2);
    expect(seen[0].buffer).toBe(chunk.buffer);
    expect(seen[1].buffer).toBe(chunk.buffer);
    expect(seen[1].length).toBe(10);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('strips ChannelData padding and keeps the following message aligned', () => {
    const { framer, out } = collect();
    const a = channelData(0x4000, 1);
    const b = stun(4);
    const c = channelData(0x4fff, 3);
    framer.push(Buffer.concat([a.wire, b, c.wire]));
    expect(out).toEqual([a.message, b, c.message]);
  });

  it('gives the same messages whatever the chunking (byte by byte, random splits)', () => {
    const { wire, messages } = randomStream(200);
    const byByte = collect();
    for (let i = 0; i < wire.length; i++) expect(byByte.framer.push(wire.subarray(i, i + 1))).toBe('ok');
    expect(byByte.out).toEqual(messages);

    for (let round = 0; round < 20; round++) {
      const random = collect();
      let offset = 0;
      while (offset < wire.length) {
        const n = 1 + Math.floor(Math.random() * 700);
        expect(random.framer.push(wire.subarray(offset, offset + n))).toBe('ok');
        offset += n;
      }
      expect(random.out).toEqual(messages);
      expect(random.framer.bufferedBytes).toBe(0);
    }
  });

  it('assembles split messages in a buffer of their own that is never reused', () => {
    const seen: Buffer[] = [];
    const framer = new StreamFramer((m) => seen.push(m));
    const a = stun(40);
    const b = stun(40);
    framer.push(a.subarray(0, 30));
    framer.push(Buffer.concat([a.subarray(30), b.subarray(0, 5)]));
    framer.push(b.subarray(5));
    expect(seen).toHaveLength(2);
    expect(seen[0].equals(a)).toBe(true);
    expect(seen[1].equals(b)).toBe(true);
    // Later partial messages must not overwrite what was handed over (the core may still hold it).
    const c = stun(40);
    framer.push(c.subarray(0, 25));
    framer.push(c.subarray(25));
    expect(seen[0].equals(a)).toBe(true);
    expect(seen[1].equals(b)).toBe(true);
    expect(seen[2].equals(c)).toBe(true);
  });

  it('handles the largest messages and bounds what it holds', () => {
    const bigStun = stun(0xfffc);
    const bigChannel = channelData(0x4002, 0xffff);
    expect(bigChannel.wire.length).toBe(MAX_FRAME_BYTES);
    const { framer, out } = collect();
    const wire = Buffer.concat([bigStun, bigChannel.wire]);
    let maxHeld = 0;
    for (let offset = 0; offset < wire.length; offset += 1000) {
      expect(framer.push(wire.subarray(offset, offset + 1000))).toBe('ok');
      maxHeld = Math.max(maxHeld, framer.bufferedBytes);
    }
    expect(out).toEqual([bigStun, bigChannel.message]);
    expect(maxHeld).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    expect(framer.bufferedBytes).toBe(0);
  });

  it('reports garbage after good messages, and stays broken', () => {
    const { framer, out } = collect();
    const good = stun(8);
    expect(framer.push(Buffer.concat([good, Buffer.from('GARBAGE!')]))).toBe('ok'); // 'G' = 0x47: ChannelData bits
    // "GARBAGE!" frames as ChannelData 0x4741 with length 0x5242: the framer waits for it...
    expect(out).toEqual([good]);
    expect(framer.bufferedBytes).toBe(2048); // the buffer a split message is assembled in starts at 2 KiB

    const second = collect();
    expect(second.framer.push(Buffer.concat([good, Buffer.from([0xff, 1, 2, 3])]))).toBe('garbage');
    expect(second.out).toEqual([good]);
    expect(second.framer.broken).toBe(true);
    expect(second.framer.push(stun(8))).toBe('garbage');
    expect(second.out).toHaveLength(1);
    expect(second.framer.bufferedBytes).toBe(0);
  });

  it('detects garbage in a header split over chunks', () => {
    const { framer } = collect();
    const bad = stun(8);
    bad.writeUInt32BE(0x01020304, 4);
    expect(framer.push(bad.subarray(0, 3))).toBe('ok');
    expect(framer.push(bad.subarray(3, 6))).toBe('ok');
    expect(framer.push(bad.subarray(6))).toBe('garbage');
  });

  it('survives 20k random chunks: never throws, never holds more than one frame', () => {
    let framer = new StreamFramer(() => {});
    let garbage = 0;
    for (let i = 0; i < 20_000; i++) {
      const chunk = randomBytes(1 + Math.floor(Math.random() * 64));
      if (Math.random() < 0.7) chunk[0] = (chunk[0] & 0x3f) | (Math.random() < 0.5 ? 0x40 : 0);
      if (framer.push(chunk) === 'garbage') {
        garbage++;
        framer = new StreamFramer(() => {});
      }
      expect(framer.bufferedBytes).toBeLessThanOrEqual(MAX_FRAME_BYTES);
    }
    expect(garbage).toBeGreaterThan(0);
  });
});

describe('StreamFramer: the bytes a split message holds', () => {
  /** A budget like StreamGuard's: a total that reserve() may not pass. */
  function budget(max: number): { reserve(n: number): boolean; unreserve(n: number): void; used: number } {
    const b = {
      used: 0,
      reserve(n: number): boolean {
        if (b.used + n > max) return false;
        b.used += n;
        return true;
      },
      unreserve(n: number): void {
        b.used -= n;
      },
    };
    return b;
  }

  it('grows with what arrives (2 KiB, doubling) instead of taking 64 KiB for a header, and gives it all back', () => {
    const b = budget(1 << 20);
    const out: Buffer[] = [];
    const framer = new StreamFramer((m) => out.push(Buffer.from(m)), b);
    const { wire, message } = channelData(0x4001, 0xffff);
    expect(framer.push(wire.subarray(0, 8))).toBe('ok');
    expect(framer.bufferedBytes).toBe(2048);
    expect(b.used).toBe(2048);
    expect(framer.push(wire.subarray(8, 3000))).toBe('ok');
    expect(framer.bufferedBytes).toBe(4096);
    expect(framer.push(wire.subarray(3000, 40_000))).toBe('ok');
    expect(framer.bufferedBytes).toBe(40_000);
    expect(framer.push(wire.subarray(40_000))).toBe('ok');
    expect(out).toEqual([message]);
    expect(framer.bufferedBytes).toBe(0);
    expect(b.used).toBe(0);
    expect(framer.inMessage).toBe(false);
  });

  it("answers 'overload' when the shared budget cannot hold the next bytes, and returns what it held", () => {
    const b = budget(10_000);
    const first = new StreamFramer(() => {}, b);
    const second = new StreamFramer(() => {}, b);
    const { wire } = channelData(0x4001, 0xffff);
    expect(first.push(wire.subarray(0, 6000))).toBe('ok');
    expect(b.used).toBe(6000);
    expect(second.push(wire.subarray(0, 2000))).toBe('ok');
    expect(second.push(wire.subarray(2000, 4100))).toBe('overload'); // growing to 4100 bytes: 6000 + 4100 > 10 000
    expect(second.broken).toBe(true);
    expect(b.used).toBe(6000);
    first.reset();
    expect(b.used).toBe(0);
  });
});
