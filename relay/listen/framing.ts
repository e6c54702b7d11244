/**
 * Stream framing (RFC 8656 §12.5, RFC 8489 §6.2.2): over TCP and TLS, STUN messages and ChannelData messages
 * follow each other with no separator, so the listener cuts the byte stream into messages by their headers:
 *
 *   first two bits 00  STUN: 20-byte header + length (a multiple of 4), magic cookie at bytes 4..7
 *   first two bits 01  ChannelData: 4-byte header + length, padded to a multiple of 4 on streams
 *   first two bits 10/11, a bad cookie, a STUN length that is not a multiple of 4: garbage
 *
 * Garbage cannot be skipped (there is no way to find the next message boundary), so the caller closes the
 * connection. ChannelData is framed for every number with the bits 01 (0x4000-0x7FFF: RFC 5766 clients use the
 * upper half too); the TURN core drops numbers it did not bind.
 *
 * Memory is bounded per connection: at most one partial message (<= 20 + 65535 or 4 + 65535 + 3 bytes) and a
 * partial header (< 8 bytes) are kept. Complete messages inside a chunk are handed over as subarrays of the chunk
 * (no copy). A message split over chunks is assembled in a buffer of its own size that is never reused, since the
 * core may keep a subarray of it (e.g. a payload queued for sending to a peer).
 *
 * Hot path: no Buffer.concat, no throw, no allocation for a message that arrives whole.
 */

/** The first 8 bytes are enough to frame a STUN message (length + cookie); 4 for ChannelData. */
const STUN_PEEK = 8;
const CHANNEL_PEEK = 4;
const STUN_HEADER = 20;
const MAGIC_COOKIE = 0x2112a442;

export type FrameResult = 'ok' | 'garbage';

/** Where one framed message ends, read from its first bytes. */
interface Frame {
  /** Bytes handed to the consumer (ChannelData: without the padding). */
  readonly length: number;
  /** Bytes the message takes on the stream (ChannelData: padded to 4). */
  readonly wireLength: number;
}

export type MessageHandler = (message: Buffer) => void;

export class StreamFramer {
  readonly #onMessage: MessageHandler;
  /** A partial header (fewer bytes than needed to frame); only `#peekFilled` bytes are valid. */
  readonly #peek = Buffer.alloc(STUN_PEEK);
  #peekFilled = 0;
  /** The message being assembled across chunks (exactly wireLength bytes), or undefined. */
  #partial: Buffer | undefined;
  #partialFilled = 0;
  #partialLength = 0;
  #broken = false;

  constructor(onMessage: MessageHandler) {
    this.#onMessage = onMessage;
  }

  /** Bytes held between chunks (a partial message or header): the per-connection buffer. */
  get bufferedBytes(): number {
    return this.#partial !== undefined ? this.#partialFilled : this.#peekFilled;
  }

  /** True once garbage was seen: every later push() answers 'garbage'. */
  get broken(): boolean {
    return this.#broken;
  }

  /**
   * Feeds one chunk of the stream; calls the handler once per complete message, in order.
   * 'garbage' means the stream cannot be framed any more: the caller closes the connection.
   */
  push(chunk: Buffer): FrameResult {
    if (this.#broken) return 'garbage';
    let offset = 0;
    if (this.#partial !== undefined) {
      offset = this.#fillPartial(chunk, 0);
      if (this.#partial !== undefined) return 'ok';
    } else if (this.#peekFilled > 0) {
      const r = this.#fillPeek(chunk);
      if (r === 'garbage') return this.#fail();
      offset = r;
      if (this.#partial !== undefined || this.#peekFilled > 0) return 'ok';
    }
    const end = chunk.length;
    while (offset < end) {
      const frame = frameAt(chunk, offset, end - offset);
      if (frame === 'garbage') return this.#fail();
      if (frame === 'short') {
        chunk.copy(this.#peek, 0, offset, end);
        this.#peekFilled = end - offset;
        return 'ok';
      }
      if (end - offset >= frame.wireLength) {
        this.#onMessage(chunk.subarray(offset, offset + frame.length));
        offset += frame.wireLength;
        continue;
      }
      this.#startPartial(frame);
      chunk.copy(this.#partial!, 0, offset, end);
      this.#partialFilled = end - offset;
      return 'ok';
    }
    return 'ok';
  }

  /** Forgets what is buffered (the connection is closing). */
  reset(): void {
    this.#partial = undefined;
    this.#partialFilled = 0;
    this.#peekFilled = 0;
  }

  #fail(): FrameResult {
    this.#broken = true;
    this.reset();
    return 'garbage';
  }

  #startPartial(frame: Frame): void {
    this.#partial = Buffer.allocUnsafe(frame.wireLength);
    this.#partialLength = frame.length;
    this.#partialFilled = 0;
  }

  /** Copies from chunk[offset..] into the partial message; delivers it when complete. Returns the new offset. */
  #fillPartial(chunk: Buffer, offset: number): number {
    const partial = this.#partial!;
    const take = Math.min(partial.length - this.#partialFilled, chunk.length - offset);
    chunk.copy(partial, this.#partialFilled, offset, offset + take);
    this.#partialFilled += take;
    if (this.#partialFilled === partial.length) {
      const length = this.#partialLength;
      this.#partial = undefined;
      this.#partialFilled = 0;
      this.#onMessage(length === partial.length ? partial : partial.subarray(0, length));
    }
    return offset + take;
  }

  /**
   * Completes a partial header from the chunk. When it can be framed, it becomes a partial message (or is
   * delivered at once if the chunk completes it). Returns the offset in `chunk` where parsing goes on.
   */
  #fillPeek(chunk: Buffer): number | 'garbage' {
    let offset = 0;
    for (;;) {
      const frame = frameAt(this.#peek, 0, this.#peekFilled);
      if (frame === 'garbage') return 'garbage';
      if (frame !== 'short') {
        // The peek never holds more than the header it needed, which is never more than the message.
        this.#startPartial(frame);
        this.#peek.copy(this.#partial!, 0, 0, this.#peekFilled);
        this.#partialFilled = this.#peekFilled;
        this.#peekFilled = 0;
        return this.#fillPartial(chunk, offset);
      }
      if (offset >= chunk.length) return offset;
      const take = Math.min(neededPeek(this.#peek[0]) - this.#peekFilled, chunk.length - offset);
      chunk.copy(this.#peek, this.#peekFilled, offset, offset + take);
      this.#peekFilled += take;
      offset += take;
    }
  }
}

/** How many header bytes frame a message starting with `first`. */
function neededPeek(first: number): number {
  return (first & 0xc0) === 0x40 ? CHANNEL_PEEK : STUN_PEEK;
}

/**
 * Frames the message starting at buf[offset], given `available` bytes. 'short' = not enough header bytes yet.
 */
export function frameAt(buf: Buffer, offset: number, available: number): Frame | 'short' | 'garbage' {
  if (available < 1) return 'short';
  const first = buf[offset];
  const kind = first & 0xc0;
  if (kind === 0x40) {
    if (available < CHANNEL_PEEK) return 'short';
    const length = 4 + buf.readUInt16BE(offset + 2);
    return { length, wireLength: (length + 3) & ~3 };
  }
  if (kind !== 0) return 'garbage';
  if (available < STUN_PEEK) return 'short';
  const bodyLength = buf.readUInt16BE(offset + 2);
  if ((bodyLength & 3) !== 0) return 'garbage';
  if (buf.readUInt32BE(offset + 4) !== MAGIC_COOKIE) return 'garbage';
  const length = STUN_HEADER + bodyLength;
  return { length, wireLength: length };
}

/** Largest message a stream can carry (ChannelData with the longest payload, padded). */
export const MAX_FRAME_BYTES = (4 + 0xffff + 3) & ~3;
