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
 * (no copy). A message split over chunks is assembled in a buffer that is never reused, since the core may keep a
 * subarray of it (e.g. a payload queued for sending to a peer). That buffer grows with what has arrived (from
 * 2 KiB, doubling, up to the message's size), so a header announcing 64 KiB costs 2 KiB until the bytes come;
 * every byte of it is taken from an optional shared budget (stream-guard.ts), and a message that does not fit
 * answers 'overload' (the caller closes the connection).
 *
 * Hot path: no Buffer.concat, no throw, no allocation for a message that arrives whole.
 */

/** The first 8 bytes are enough to frame a STUN message (length + cookie); 4 for ChannelData. */
const STUN_PEEK = 8;
const CHANNEL_PEEK = 4;
const STUN_HEADER = 20;
const MAGIC_COOKIE = 0x2112a442;
/** First size of the buffer a split message is assembled in. */
const INITIAL_PARTIAL = 2048;

export type FrameResult = 'ok' | 'garbage' | 'overload';

/** Where the bytes held between chunks are taken from (StreamGuard); absent = no shared bound. */
export interface BufferBudget {
  reserve(bytes: number): boolean;
  unreserve(bytes: number): void;
}

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
  readonly #budget: BufferBudget | undefined;
  /** A partial header (fewer bytes than needed to frame); only `#peekFilled` bytes are valid. */
  readonly #peek = Buffer.alloc(STUN_PEEK);
  #peekFilled = 0;
  /** The message being assembled across chunks (grown up to wireLength bytes), or undefined. */
  #partial: Buffer | undefined;
  #partialFilled = 0;
  #partialLength = 0;
  #partialWire = 0;
  #broken = false;

  constructor(onMessage: MessageHandler, budget?: BufferBudget) {
    this.#onMessage = onMessage;
    this.#budget = budget;
  }

  /** Bytes held between chunks (the partial message's buffer, or a partial header): the per-connection buffer. */
  get bufferedBytes(): number {
    return this.#partial !== undefined ? this.#partial.length : this.#peekFilled;
  }

  /** True while a message (or its header) has begun and is not complete. */
  get inMessage(): boolean {
    return this.#partial !== undefined || this.#peekFilled > 0;
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
      const r = this.#fillPartial(chunk, 0);
      if (r === 'overload') return this.#fail('overload');
      offset = r;
      if (this.#partial !== undefined) return 'ok';
    } else if (this.#peekFilled > 0) {
      const r = this.#fillPeek(chunk);
      if (r === 'garbage' || r === 'overload') return this.#fail(r);
      offset = r;
      if (this.#partial !== undefined || this.#peekFilled > 0) return 'ok';
    }
    const end = chunk.length;
    while (offset < end) {
      const frame = frameAt(chunk, offset, end - offset);
      if (frame === 'garbage') return this.#fail('garbage');
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
      if (!this.#startPartial(frame, end - offset)) return this.#fail('overload');
      chunk.copy(this.#partial!, 0, offset, end);
      this.#partialFilled = end - offset;
      return 'ok';
    }
    return 'ok';
  }

  /** Forgets what is buffered (the connection is closing) and gives its bytes back to the budget. */
  reset(): void {
    if (this.#partial !== undefined) this.#budget?.unreserve(this.#partial.length);
    this.#partial = undefined;
    this.#partialFilled = 0;
    this.#peekFilled = 0;
  }

  #fail(result: 'garbage' | 'overload'): FrameResult {
    this.#broken = true;
    this.reset();
    return result;
  }

  /** Begins a split message with room for `first` bytes (2 KiB at least); false when the budget refuses it. */
  #startPartial(frame: Frame, first: number): boolean {
    const size = Math.min(frame.wireLength, Math.max(INITIAL_PARTIAL, first));
    if (this.#budget !== undefined && !this.#budget.reserve(size)) return false;
    this.#partial = Buffer.allocUnsafe(size);
    this.#partialLength = frame.length;
    this.#partialWire = frame.wireLength;
    this.#partialFilled = 0;
    return true;
  }

  /** Makes the partial buffer hold at least `needed` bytes (doubling, up to the message's size). */
  #grow(needed: number): boolean {
    const old = this.#partial!;
    if (needed <= old.length) return true;
    const size = Math.min(this.#partialWire, Math.max(needed, old.length * 2));
    if (this.#budget !== undefined && !this.#budget.reserve(size - old.length)) return false;
    const grown = Buffer.allocUnsafe(size);
    old.copy(grown, 0, 0, this.#partialFilled);
    this.#partial = grown;
    return true;
  }

  /** Copies from chunk[offset..] into the partial message; delivers it when complete. Returns the new offset. */
  #fillPartial(chunk: Buffer, offset: number): number | 'overload' {
    const take = Math.min(this.#partialWire - this.#partialFilled, chunk.length - offset);
    if (!this.#grow(this.#partialFilled + take)) return 'overload';
    const partial = this.#partial!;
    chunk.copy(partial, this.#partialFilled, offset, offset + take);
    this.#partialFilled += take;
    if (this.#partialFilled === this.#partialWire) {
      const length = this.#partialLength;
      this.#partial = undefined;
      this.#partialFilled = 0;
      this.#budget?.unreserve(partial.length);
      this.#onMessage(length === partial.length ? partial : partial.subarray(0, length));
    }
    return offset + take;
  }

  /**
   * Completes a partial header from the chunk. When it can be framed, it becomes a partial message (or is
   * delivered at once if the chunk completes it). Returns the offset in `chunk` where parsing goes on.
   */
  #fillPeek(chunk: Buffer): number | 'garbage' | 'overload' {
    let offset = 0;
    for (;;) {
      const frame = frameAt(this.#peek, 0, this.#peekFilled);
      if (frame === 'garbage') return 'garbage';
      if (frame !== 'short') {
        // The peek never holds more than the header it needed, which is never more than the message.
        if (!this.#startPartial(frame, this.#peekFilled + chunk.length - offset)) return 'overload';
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
