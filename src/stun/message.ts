/**
 * StunMessage: a read view over a received STUN message (RFC 8489 §5, §6, §14).
 *
 * Decoding never copies and never throws: the header is checked, the attributes are walked once and indexed as
 * (type, value offset, value length) in one flat number array; values are decoded on demand by the readers in
 * attributes.ts. Malformed input yields a DecodeFailure string the caller counts as a drop.
 *
 * Attribute order rules (RFC 8489 §14.5-14.7) are applied at decode time: attributes that follow
 * MESSAGE-INTEGRITY (other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT), that follow MESSAGE-INTEGRITY-SHA256
 * (other than FINGERPRINT) or that follow FINGERPRINT are checked for well-formedness but not indexed, so they
 * are invisible to `has()`, `value()` and the readers, exactly as if they were absent.
 */
import { randomFillSync } from 'node:crypto';
import { Attr, HEADER_LENGTH, KNOWN_ATTRIBUTES, MAGIC_COOKIE, classOf, methodOf, type StunClass } from './constants.js';

export type DecodeFailure = 'short' | 'not-stun' | 'bad-cookie' | 'bad-length' | 'bad-attribute-length';

/** Every DecodeFailure value (e.g. to pre-create metric labels). */
export const DECODE_FAILURES: readonly DecodeFailure[] = [
  'short',
  'not-stun',
  'bad-cookie',
  'bad-length',
  'bad-attribute-length',
];

const STRIDE = 3; // type, value offset, value length

export class StunMessage {
  /** Exactly this message's bytes (the buffer given to decodeStun). */
  readonly raw: Buffer;
  readonly method: number;
  readonly cls: StunClass;
  /** The 14-bit message type (method and class bits interleaved). */
  readonly type: number;
  private tid: Buffer | undefined;
  /** Flat index: [type, valueOffset, valueLength] per attribute, offsets into raw. */
  private readonly index: number[];

  /** @internal Use decodeStun(). */
  constructor(raw: Buffer, type: number, index: number[]) {
    this.raw = raw;
    this.type = type;
    this.method = methodOf(type);
    this.cls = classOf(type);
    this.tid = undefined;
    this.index = index;
  }

  /** 12-byte subarray of raw (created on first use: the per-packet path often never needs it). */
  get transactionId(): Buffer {
    if (this.tid === undefined) this.tid = this.raw.subarray(8, HEADER_LENGTH);
    return this.tid;
  }

  /** Number of indexed attributes. */
  get attributeCount(): number {
    return this.index.length / STRIDE;
  }

  /** Type of attribute i (0-based); -1 when out of range. */
  typeAt(i: number): number {
    const t = this.index[i * STRIDE];
    return t === undefined ? -1 : t;
  }

  /** Offset in raw of the value of attribute i; -1 when out of range. */
  valueOffsetAt(i: number): number {
    const o = this.index[i * STRIDE + 1];
    return o === undefined ? -1 : o;
  }

  /** Length of the value of attribute i (without padding); -1 when out of range. */
  valueLengthAt(i: number): number {
    const l = this.index[i * STRIDE + 2];
    return l === undefined ? -1 : l;
  }

  /** Value of attribute i as a subarray of raw (empty when out of range). */
  valueAt(i: number): Buffer {
    const o = this.valueOffsetAt(i);
    if (o < 0) return this.raw.subarray(0, 0);
    return this.raw.subarray(o, o + this.index[i * STRIDE + 2]);
  }

  has(type: number): boolean {
    return this.indexOf(type) >= 0;
  }

  /** Position of the first attribute of this type, or -1. */
  indexOf(type: number): number {
    const idx = this.index;
    for (let k = 0; k < idx.length; k += STRIDE) if (idx[k] === type) return k / STRIDE;
    return -1;
  }

  /** Value of the first attribute of this type (a subarray), or undefined. */
  value(type: number): Buffer | undefined {
    const i = this.indexOf(type);
    return i < 0 ? undefined : this.valueAt(i);
  }

  /** Values of every attribute of this type, in message order (e.g. several XOR-PEER-ADDRESS). */
  values(type: number): Buffer[] {
    const out: Buffer[] = [];
    const idx = this.index;
    for (let k = 0; k < idx.length; k += STRIDE) {
      if (idx[k] === type) out.push(this.raw.subarray(idx[k + 1], idx[k + 1] + idx[k + 2]));
    }
    return out;
  }

  /** Comprehension-required types (< 0x8000) this codec does not know, without duplicates, for a 420 response. */
  unknownComprehensionRequired(): number[] {
    let out: number[] | undefined;
    const idx = this.index;
    for (let k = 0; k < idx.length; k += STRIDE) {
      const t = idx[k];
      if (t < 0x8000 && !KNOWN_ATTRIBUTES.has(t)) {
        if (out === undefined) out = [];
        if (!out.includes(t)) out.push(t);
      }
    }
    return out ?? [];
  }
}

/**
 * Cheap pre-check for demultiplexing (RFC 8489 §5/§7.3): top two bits 00, magic cookie, length a multiple of 4
 * and at least a header. Does not check that the buffer holds the whole message.
 */
export function looksLikeStun(buf: Buffer): boolean {
  return (
    buf.length >= HEADER_LENGTH &&
    (buf[0] & 0xc0) === 0 &&
    (buf[3] & 0x03) === 0 &&
    buf.readUInt32BE(4) === MAGIC_COOKIE
  );
}

/**
 * Decodes one whole STUN message: `buf` must hold exactly 20 + length bytes (one UDP datagram, or one frame cut
 * by a stream framer). Never throws.
 */
export function decodeStun(buf: Buffer): StunMessage | DecodeFailure {
  const total = buf.length;
  if (total < HEADER_LENGTH) return 'short';
  if ((buf[0] & 0xc0) !== 0) return 'not-stun';
  if (buf.readUInt32BE(4) !== MAGIC_COOKIE) return 'bad-cookie';
  const length = (buf[2] << 8) | buf[3];
  if ((length & 3) !== 0 || HEADER_LENGTH + length !== total) return 'bad-length';
  const index: number[] = [];
  // 0: before MESSAGE-INTEGRITY, 1: after MI, 2: after MI-SHA256, 3: after FINGERPRINT.
  let stage = 0;
  let off = HEADER_LENGTH;
  while (off < total) {
    if (off + 4 > total) return 'bad-attribute-length';
    const type = (buf[off] << 8) | buf[off + 1];
    const len = (buf[off + 2] << 8) | buf[off + 3];
    const valueOff = off + 4;
    const next = valueOff + ((len + 3) & ~3);
    if (next > total) return 'bad-attribute-length';
    let keep: boolean;
    switch (stage) {
      case 0:
        keep = true;
        break;
      case 1:
        keep = type === Attr.MESSAGE_INTEGRITY_SHA256 || type === Attr.FINGERPRINT;
        break;
      case 2:
        keep = type === Attr.FINGERPRINT;
        break;
      default:
        keep = false;
    }
    if (keep) {
      index.push(type, valueOff, len);
      if (type === Attr.MESSAGE_INTEGRITY) stage = 1;
      else if (type === Attr.MESSAGE_INTEGRITY_SHA256) stage = 2;
      else if (type === Attr.FINGERPRINT) stage = 3;
    }
    off = next;
  }
  return new StunMessage(buf, (buf[0] << 8) | buf[1], index);
}

/** Type guard: true when decodeStun returned a message. */
export function isStunMessage(r: StunMessage | DecodeFailure): r is StunMessage {
  return typeof r !== 'string';
}

const TID_POOL_SIZE = 12 * 256;
let tidPool = Buffer.allocUnsafe(0);
let tidPoolOffset = 0;

/** A fresh random 12-byte transaction id (its own buffer). */
export function newTransactionId(): Buffer {
  if (tidPoolOffset + 12 > tidPool.length) {
    tidPool = randomFillSync(Buffer.allocUnsafe(TID_POOL_SIZE));
    tidPoolOffset = 0;
  }
  const tid = Buffer.from(tidPool.subarray(tidPoolOffset, tidPoolOffset + 12));
  tidPoolOffset += 12;
  return tid;
}
