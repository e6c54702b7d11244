/**
 * ChannelData messages (RFC 8656 §12.4/§12.5): 2-byte channel number, 2-byte length, data.
 * Over UDP the datagram may carry padding after the data (it is ignored); over TCP/TLS the message is padded to
 * a multiple of 4. These functions are on the per-packet path: no allocation, no throw.
 */

/**
 * The channel numbers anyturn accepts: 0x4000-0x7FFF, RFC 5766's range. RFC 8656 §12 narrows client channel
 * numbers to 0x4000-0x4FFF, but clients of the RFC 5766 era still use the whole range (coturn's turnutils_uclient
 * picks 0x4000-0x7FFF at random; coturn accepts it), and 0x5000-0x7FFF collides with nothing the relay
 * demultiplexes (RFC 7983: first byte 64..127). The one source of the range (ChannelBind, the codec, README).
 */
export const CHANNEL_MIN = 0x4000;
export const CHANNEL_MAX = 0x7fff;
/** Size of the ChannelData header. */
export const CHANNEL_DATA_HEADER_LENGTH = 4;

export type ChannelDataCheck = 'ok' | 'short' | 'bad-length' | 'bad-channel';

/** Top two bits 01 (RFC 7983 demultiplexing: first byte 64..79 for valid channels) and a whole header. */
export function isChannelData(buf: Buffer): boolean {
  return buf.length >= 4 && (buf[0] & 0xc0) === 0x40;
}

/** The channel number field (no checks). */
export function channelNumberOf(buf: Buffer): number {
  return (buf[0] << 8) | buf[1];
}

/** The 16-bit length field (length of the application data, without padding). */
export function channelDataLength(buf: Buffer): number {
  return (buf[2] << 8) | buf[3];
}

/**
 * 'short' when there is no whole header, 'bad-channel' when the number is outside CHANNEL_MIN-CHANNEL_MAX,
 * 'bad-length' when the buffer is shorter than 4 + length (RFC 8656 §12.5: silently discarded); extra bytes
 * after the data (padding) are allowed. The data is buf[4, 4 + channelDataLength(buf)).
 */
export function checkChannelData(buf: Buffer): ChannelDataCheck {
  if (buf.length < 4) return 'short';
  const ch = (buf[0] << 8) | buf[1];
  if (ch < CHANNEL_MIN || ch > CHANNEL_MAX) return 'bad-channel';
  if (4 + ((buf[2] << 8) | buf[3]) > buf.length) return 'bad-length';
  return 'ok';
}

/** True when `n` is a channel number anyturn accepts (CHANNEL_MIN-CHANNEL_MAX). */
export function isValidChannelNumber(n: number): boolean {
  return n >= CHANNEL_MIN && n <= CHANNEL_MAX;
}

/** Writes the 4-byte header at target[offset]; the data goes at offset + 4. */
export function writeChannelDataHeader(target: Buffer, offset: number, channel: number, length: number): void {
  target[offset] = (channel >> 8) & 0xff;
  target[offset + 1] = channel & 0xff;
  target[offset + 2] = (length >> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}

/** n rounded up to a multiple of 4. */
export function paddedLength(n: number): number {
  return (n + 3) & ~3;
}
