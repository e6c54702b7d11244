import { describe, expect, it } from 'vitest';
import {
  CHANNEL_MAX,
  CHANNEL_MIN,
  channelDataLength,
  channelNumberOf,
  checkChannelData,
  isChannelData,
  isValidChannelNumber,
  looksLikeStun,
  paddedLength,
  writeChannelDataHeader,
} from '../../../../src/stun/index.js';
import { SAMPLE_REQUEST } from './fixtures/rfc5769.js';

function channelData(channel: number, data: Buffer, extra = 0): Buffer {
  const b = Buffer.alloc(4 + data.length + extra);
  writeChannelDataHeader(b, 0, channel, data.length);
  data.copy(b, 4);
  return b;
}

describe('ChannelData (RFC 8656 §12)', () => {
  it('writes and reads the header', () => {
    const b = Buffer.alloc(12, 0xff);
    writeChannelDataHeader(b, 3, 0x4abc, 0x0102);
    expect(b.subarray(3, 7).toString('hex')).toBe('4abc0102');
    expect(b[2]).toBe(0xff);
    expect(b[7]).toBe(0xff);
    const m = channelData(0x4001, Buffer.from('hello'));
    expect(channelNumberOf(m)).toBe(0x4001);
    expect(channelDataLength(m)).toBe(5);
    expect(m.subarray(4, 4 + channelDataLength(m)).toString()).toBe('hello');
  });

  it('isChannelData looks at the top two bits and needs a whole header', () => {
    expect(isChannelData(channelData(CHANNEL_MIN, Buffer.alloc(0)))).toBe(true);
    expect(isChannelData(channelData(0x7fff, Buffer.alloc(0)))).toBe(true); // RFC 5766's range, still 01
    expect(isChannelData(Buffer.from([0x40, 0x00, 0x00]))).toBe(false);
    expect(isChannelData(SAMPLE_REQUEST)).toBe(false);
    expect(isChannelData(channelData(0x8000, Buffer.alloc(0)))).toBe(false);
    expect(looksLikeStun(channelData(CHANNEL_MIN, Buffer.alloc(20)))).toBe(false);
  });

  it('checkChannelData classifies short, bad-channel, bad-length and ok', () => {
    expect(checkChannelData(Buffer.alloc(0))).toBe('short');
    expect(checkChannelData(Buffer.from([0x40, 0, 0]))).toBe('short');
    expect(checkChannelData(channelData(CHANNEL_MIN, Buffer.alloc(0)))).toBe('ok');
    expect(checkChannelData(channelData(CHANNEL_MAX, Buffer.alloc(100)))).toBe('ok');
    expect(checkChannelData(channelData(0x5000, Buffer.alloc(1)))).toBe('ok'); // RFC 5766's range (README)
    expect(checkChannelData(channelData(0x8000, Buffer.alloc(1)))).toBe('bad-channel');
    expect(checkChannelData(channelData(0x3fff, Buffer.alloc(1)))).toBe('bad-channel');
    expect(checkChannelData(channelData(0x0001, Buffer.alloc(1)))).toBe('bad-channel');
    const truncated = channelData(CHANNEL_MIN, Buffer.alloc(10)).subarray(0, 13);
    expect(checkChannelData(truncated)).toBe('bad-length');
    // UDP may carry padding after the data: accepted, the data is still 4 + length
    expect(checkChannelData(channelData(CHANNEL_MIN, Buffer.alloc(5), 3))).toBe('ok');
  });

  it('validates channel numbers and pads to 4', () => {
    expect(isValidChannelNumber(0x4000)).toBe(true);
    expect(isValidChannelNumber(0x4fff)).toBe(true);
    expect(isValidChannelNumber(0x7fff)).toBe(true); // the README's 0x4000-0x7FFF
    expect(isValidChannelNumber(0x8000)).toBe(false);
    expect(isValidChannelNumber(0x3fff)).toBe(false);
    expect([0, 1, 2, 3, 4, 5, 8, 65535].map(paddedLength)).toEqual([0, 4, 4, 4, 4, 8, 8, 65536]);
  });
});
