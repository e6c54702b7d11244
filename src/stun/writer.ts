/**
 * StunWriter: encodes one STUN message at a time into a single reusable buffer (RFC 8489 §5, §14).
 * The header length field is kept up to date after every attribute; padding bytes are zeroed.
 * MESSAGE-INTEGRITY(-SHA256) and FINGERPRINT are computed over the buffer written so far with the header
 * length already covering the new attribute, so they must be added last (integrity, then fingerprint).
 *
 * Encoding our own values is a programming contract: an address that does not parse or a value that does not
 * fit throws AnyturnError ATN_ERR_STUN_ENCODE (never reached with addresses taken from sockets).
 */
import { createHmac } from 'node:crypto';
import { AnyturnError } from '../errors.js';
import {
  Attr,
  FAMILY_IPV4,
  FAMILY_IPV6,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  TRANSACTION_ID_LENGTH,
  messageType,
  type StunClass,
} from './constants.js';
import { reasonPhrase as reasonPhraseFor } from './error-code.js';
import { fingerprintOf } from './fingerprint.js';
import type { TransportAddress } from './transport-address.js';
import { encodeAddressAt } from './xor-address.js';

const DEFAULT_SIZE = 2048;
const MAX_VALUE_LENGTH = 0xffff;

export class StunWriter {
  private buf: Buffer;
  private pos = HEADER_LENGTH;

  /** Writes into `buffer` (from offset 0) or, by default, into its own 2048-byte buffer; grown if needed. */
  constructor(buffer?: Buffer) {
    this.buf = buffer ?? Buffer.alloc(DEFAULT_SIZE);
    if (this.buf.length < HEADER_LENGTH) this.buf = Buffer.alloc(DEFAULT_SIZE);
  }

  /** Length in bytes of the message written so far. */
  get length(): number {
    return this.pos;
  }

  /** Starts a new message: header with length 0, the magic cookie and the 12-byte transaction id. */
  reset(method: number, cls: StunClass, transactionId: Buffer): this {
    if (transactionId.length !== TRANSACTION_ID_LENGTH) {
      throw new AnyturnError('ATN_ERR_STUN_ENCODE', 'the transaction id must be 12 bytes');
    }
    const b = this.buf;
    b.writeUInt16BE(messageType(method, cls), 0);
    b.writeUInt16BE(0, 2);
    b.writeUInt32BE(MAGIC_COOKIE, 4);
    transactionId.copy(b, 8, 0, TRANSACTION_ID_LENGTH);
    this.pos = HEADER_LENGTH;
    return this;
  }

  /** Makes room for an attribute, writes its header and returns the value offset. */
  private begin(type: number, len: number): number {
    if (len > MAX_VALUE_LENGTH) {
      throw new AnyturnError('ATN_ERR_STUN_ENCODE', `attribute 0x${type.toString(16)} value too long (${len})`);
    }
    const need = this.pos + 4 + ((len + 3) & ~3);
    if (need - HEADER_LENGTH > 0xfffc) {
      throw new AnyturnError('ATN_ERR_STUN_ENCODE', 'the STUN message would exceed 65535 bytes');
    }
    if (need > this.buf.length) {
      const grown = Buffer.alloc(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.pos);
      this.buf = grown;
    }
    const b = this.buf;
    const p = this.pos;
    b[p] = type >> 8;
    b[p + 1] = type & 0xff;
    b[p + 2] = len >> 8;
    b[p + 3] = len & 0xff;
    return p + 4;
  }

  /** Zeroes the padding after a value of `len` bytes at `valueOff`, advances and fixes the header length. */
  private end(valueOff: number, len: number): this {
    const b = this.buf;
    let p = valueOff + len;
    const next = valueOff + ((len + 3) & ~3);
    while (p < next) b[p++] = 0;
    this.pos = next;
    const msgLen = next - HEADER_LENGTH;
    b[2] = msgLen >> 8;
    b[3] = msgLen & 0xff;
    return this;
  }

  private address(type: number, a: TransportAddress, xor: boolean): this {
    const len = a.family === 6 ? 20 : 8;
    const off = this.begin(type, len);
    if (encodeAddressAt(this.buf, off, a, xor ? this.buf : undefined) < 0) {
      throw new AnyturnError('ATN_ERR_STUN_ENCODE', `cannot encode address ${a.address}:${a.port} (IPv${a.family})`);
    }
    return this.end(off, len);
  }

  /** XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS. */
  addXorAddress(type: number, a: TransportAddress): this {
    return this.address(type, a, true);
  }

  /** MAPPED-ADDRESS, ALTERNATE-SERVER, RESPONSE-ORIGIN, OTHER-ADDRESS. */
  addAddress(type: number, a: TransportAddress): this {
    return this.address(type, a, false);
  }

  addUint32(type: number, v: number): this {
    const off = this.begin(type, 4);
    this.buf.writeUInt32BE(v >>> 0, off);
    return this.end(off, 4);
  }

  addBytes(type: number, v: Buffer): this {
    const off = this.begin(type, v.length);
    v.copy(this.buf, off);
    return this.end(off, v.length);
  }

  /** UTF-8 text (USERNAME, REALM, NONCE, SOFTWARE...). */
  addString(type: number, v: string): this {
    const len = Buffer.byteLength(v, 'utf8');
    const off = this.begin(type, len);
    this.buf.write(v, off, len, 'utf8');
    return this.end(off, len);
  }

  /** A zero-length attribute (DONT-FRAGMENT, USE-CANDIDATE). */
  addEmpty(type: number): this {
    const off = this.begin(type, 0);
    return this.end(off, 0);
  }

  /** ERROR-CODE with the RFC reason phrase by default (see error-code.ts). */
  addErrorCode(code: number, reason?: string): this {
    if (!Number.isInteger(code) || code < 300 || code > 699) {
      throw new AnyturnError('ATN_ERR_STUN_ENCODE', `error code ${code} is outside 300-699`);
    }
    const text = reason ?? reasonPhraseFor(code);
    const len = 4 + Buffer.byteLength(text, 'utf8');
    const off = this.begin(Attr.ERROR_CODE, len);
    const b = this.buf;
    b[off] = 0;
    b[off + 1] = 0;
    b[off + 2] = Math.floor(code / 100);
    b[off + 3] = code % 100;
    b.write(text, off + 4, len - 4, 'utf8');
    return this.end(off, len);
  }

  addUnknownAttributes(types: number[]): this {
    const len = types.length * 2;
    const off = this.begin(Attr.UNKNOWN_ATTRIBUTES, len);
    for (let k = 0; k < types.length; k++) this.buf.writeUInt16BE(types[k] & 0xffff, off + 2 * k);
    return this.end(off, len);
  }

  /** CHANNEL-NUMBER: the number then 2 RFFU bytes. */
  addChannelNumber(n: number): this {
    const off = this.begin(Attr.CHANNEL_NUMBER, 4);
    this.buf.writeUInt16BE(n & 0xffff, off);
    this.buf.writeUInt16BE(0, off + 2);
    return this.end(off, 4);
  }

  /** REQUESTED-TRANSPORT: protocol number then 3 RFFU bytes (17 = UDP). */
  addRequestedTransport(protocol: number): this {
    const off = this.begin(Attr.REQUESTED_TRANSPORT, 4);
    this.buf.writeUInt32BE(((protocol & 0xff) << 24) >>> 0, off);
    return this.end(off, 4);
  }

  /** EVEN-PORT: one byte, R in the top bit. */
  addEvenPort(reserve: boolean): this {
    const off = this.begin(Attr.EVEN_PORT, 1);
    this.buf[off] = reserve ? 0x80 : 0;
    return this.end(off, 1);
  }

  /** REQUESTED-ADDRESS-FAMILY or ADDITIONAL-ADDRESS-FAMILY: family octet then 3 RFFU bytes. */
  addRequestedAddressFamily(type: number, family: 4 | 6): this {
    const off = this.begin(type, 4);
    this.buf.writeUInt32BE(((family === 6 ? FAMILY_IPV6 : FAMILY_IPV4) << 24) >>> 0, off);
    return this.end(off, 4);
  }

  private integrity(type: number, algorithm: 'sha1' | 'sha256', macLength: number, key: Buffer): this {
    const start = this.pos;
    const off = this.begin(type, macLength);
    const msgLen = off + macLength - HEADER_LENGTH;
    this.buf[2] = msgLen >> 8;
    this.buf[3] = msgLen & 0xff;
    const mac = createHmac(algorithm, key).update(this.buf.subarray(0, start)).digest();
    mac.copy(this.buf, off, 0, macLength);
    return this.end(off, macLength);
  }

  /** MESSAGE-INTEGRITY: HMAC-SHA1 (20 bytes) of everything written so far. */
  addMessageIntegrity(key: Buffer): this {
    return this.integrity(Attr.MESSAGE_INTEGRITY, 'sha1', 20, key);
  }

  /** MESSAGE-INTEGRITY-SHA256: HMAC-SHA256 of everything written so far, `length` bytes (16..32, multiple of 4). */
  addMessageIntegritySha256(key: Buffer, length = 32): this {
    if (length < 16 || length > 32 || length % 4 !== 0) {
      throw new AnyturnError('ATN_ERR_STUN_ENCODE', `MESSAGE-INTEGRITY-SHA256 length ${length} is invalid`);
    }
    return this.integrity(Attr.MESSAGE_INTEGRITY_SHA256, 'sha256', length, key);
  }

  /** FINGERPRINT: CRC-32 of everything written so far XOR 0x5354554E. Must be the last attribute. */
  addFingerprint(): this {
    const start = this.pos;
    const off = this.begin(Attr.FINGERPRINT, 4);
    const msgLen = off + 4 - HEADER_LENGTH;
    this.buf[2] = msgLen >> 8;
    this.buf[3] = msgLen & 0xff;
    this.buf.writeUInt32BE(fingerprintOf(this.buf, start), off);
    return this.end(off, 4);
  }

  /** The message written so far: a subarray of the internal buffer, valid until the next reset(). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the message written so far. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
