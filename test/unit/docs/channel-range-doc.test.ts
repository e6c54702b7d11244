/**
 * The channel-number range has one source (src/stun/channel-data.ts: CHANNEL_MIN, CHANNEL_MAX); README's "Known
 * limits" states it. This test keeps the two in line.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHANNEL_MAX, CHANNEL_MIN } from '../../../src/stun/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const hex = (n: number): string => `0x${n.toString(16).toUpperCase()}`;

describe('channel-number range in README', () => {
  it('is the range the codec and ChannelBind accept', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const stated = /Channel numbers (0x[0-9A-F]{4})–(0x[0-9A-F]{4}) are accepted/.exec(readme);
    expect(stated?.slice(1)).toEqual([hex(CHANNEL_MIN), hex(CHANNEL_MAX)]);
  });
});
