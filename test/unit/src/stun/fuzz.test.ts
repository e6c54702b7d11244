/**
 * Fuzz test: random datagrams and mutations of valid messages through every decoder entry point.
 * Nothing may throw; decoded views stay inside their buffer. Seeded (FUZZ_SEED env to vary) so failures reproduce.
 */
import { describe, expect, it } from 'vitest';
import {
  Attr,
  DECODE_FAILURES,
  KNOWN_ATTRIBUTES,
  Method,
  StunClass,
  StunMessage,
  StunWriter,
  channelDataLength,
  channelNumberOf,
  checkChannelData,
  decodeStun,
  integrityKind,
  isChannelData,
  looksLikeStun,
  readAddress,
  readChannelNumber,
  readData,
  readErrorCode,
  readEvenPort,
  readRequestedAddressFamily,
  readRequestedTransport,
  readReservationToken,
  readString,
  readUint32,
  readUnknownAttributes,
  readXorAddress,
  readXorAddresses,
  verifyFingerprint,
  verifyIntegrity,
  writeChannelDataHeader,
  type DecodeFailure,
} from '../../../../src/stun/index.js';
import { Prng } from './fixtures/prng.js';
import * as vectors from './fixtures/rfc5769.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1234);
const ITERATIONS = 120_000;
const key = Buffer.from('fuzz key');
const knownTypes = [...KNOWN_ATTRIBUTES];

/** Valid messages built by the writer with random attributes, plus the RFC vectors and ChannelData. */
function corpus(rng: Prng): Buffer[] {
  const out: Buffer[] = [
    vectors.SAMPLE_REQUEST,
    vectors.SAMPLE_IPV4_RESPONSE,
    vectors.SAMPLE_IPV6_RESPONSE,
    vectors.SAMPLE_REQUEST_LONG_TERM,
    vectors.RFC8489_SAMPLE_REQUEST_SHA256,
  ];
  const w = new StunWriter();
  const methods = Object.values(Method);
  for (let n = 0; n < 200; n++) {
    w.reset(rng.pick(methods), rng.int(4) as StunClass, rng.bytes(12));
    const count = rng.int(8);
    for (let k = 0; k < count; k++) {
      switch (rng.int(10)) {
        case 0:
          w.addXorAddress(rng.pick([Attr.XOR_PEER_ADDRESS, Attr.XOR_MAPPED_ADDRESS, Attr.XOR_RELAYED_ADDRESS]), {
            family: 4,
            address: `${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}`,
            port: rng.int(65536),
          });
          break;
        case 1:
          w.addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 6, address: `2001:db8::${rng.int(65536).toString(16)}`, port: rng.int(65536) });
          break;
        case 2:
          w.addString(rng.pick([Attr.USERNAME, Attr.REALM, Attr.NONCE, Attr.SOFTWARE]), rng.bytes(rng.int(40)).toString('base64'));
          break;
        case 3:
          w.addErrorCode(300 + rng.int(300));
          break;
        case 4:
          w.addUint32(rng.pick([Attr.LIFETIME, Attr.PRIORITY, Attr.CONNECTION_ID]), rng.int(2 ** 32));
          break;
        case 5:
          w.addChannelNumber(0x4000 + rng.int(0x1000));
          break;
        case 6:
          w.addRequestedTransport(rng.pick([6, 17]));
          w.addEvenPort(rng.next() < 0.5);
          break;
        case 7:
          w.addUnknownAttributes([rng.int(65536), rng.int(65536)]);
          break;
        case 8:
          w.addBytes(rng.pick(knownTypes), rng.bytes(rng.int(64)));
          break;
        default:
          w.addRequestedAddressFamily(Attr.REQUESTED_ADDRESS_FAMILY, rng.next() < 0.5 ? 4 : 6);
      }
    }
    const tail = rng.int(4);
    if (tail & 1) w.addMessageIntegrity(key);
    if (rng.next() < 0.3) w.addMessageIntegritySha256(key, 16 + 4 * rng.int(5));
    if (tail & 2) w.addFingerprint();
    out.push(w.toBuffer());
  }
  for (let n = 0; n < 20; n++) {
    const len = rng.int(100);
    const b = Buffer.alloc(4 + len + rng.int(4));
    writeChannelDataHeader(b, 0, 0x4000 + rng.int(0x1000), len);
    out.push(b);
  }
  return out;
}

/** Attribute header offsets of a well-formed STUN message (walks padding like the decoder). */
function attributeOffsets(b: Buffer): number[] {
  const offs: number[] = [];
  let off = 20;
  while (off + 4 <= b.length) {
    offs.push(off);
    off += 4 + ((b.readUInt16BE(off + 2) + 3) & ~3);
  }
  return offs;
}

function mutate(rng: Prng, src: Buffer): Buffer {
  let b = Buffer.from(src);
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(9)) {
      case 0: {
        // bit flips
        const flips = 1 + rng.int(4);
        for (let k = 0; k < flips && b.length > 0; k++) b[rng.int(b.length)] ^= 1 << rng.int(8);
        break;
      }
      case 1:
        b = b.subarray(0, rng.int(b.length + 1)); // truncation
        break;
      case 2:
        if (b.length >= 4) b.writeUInt16BE(rng.next() < 0.5 ? rng.int(65536) : Math.max(0, b.length - 20 + 4 * (rng.int(5) - 2)), 2);
        break; // header length edits
      case 3: {
        const offs = attributeOffsets(b);
        if (offs.length > 0) {
          const off = rng.pick(offs);
          const choice = rng.int(4);
          const len = choice === 0 ? rng.int(65536) : choice === 1 ? 0 : b.readUInt16BE(off + 2) + rng.int(9) - 4;
          b.writeUInt16BE(len & 0xffff, off + 2); // attribute length edits
        }
        break;
      }
      case 4: {
        const offs = attributeOffsets(b);
        if (offs.length > 0) b.writeUInt16BE(rng.next() < 0.7 ? rng.pick(knownTypes) : rng.int(65536), rng.pick(offs));
        break; // attribute type edits
      }
      case 5:
        b = Buffer.concat([b, rng.bytes(1 + rng.int(16))]); // trailing garbage
        break;
      case 6: {
        // append a whole attribute and fix the header length
        const value = rng.bytes(rng.int(24));
        const attr = Buffer.alloc(4 + ((value.length + 3) & ~3));
        attr.writeUInt16BE(rng.pick(knownTypes), 0);
        attr.writeUInt16BE(value.length, 2);
        value.copy(attr, 4);
        b = Buffer.concat([b, attr]);
        if (b.length >= 20) b.writeUInt16BE((b.length - 20) & 0xffff, 2);
        break;
      }
      case 7:
        if (b.length > 0) b[rng.int(b.length)] = rng.int(256); // random byte
        break;
      default:
        if (b.length > 0) b[0] = rng.pick([0x00, 0x01, 0x40, 0x4f, 0x50, 0x7f, 0x80]); // first byte (demux)
    }
  }
  return b;
}

function exercise(b: Buffer, stats: Record<string, number>): void {
  looksLikeStun(b);
  if (isChannelData(b)) {
    channelNumberOf(b);
    channelDataLength(b);
  }
  const cd = checkChannelData(b);
  stats[`cd:${cd}`] = (stats[`cd:${cd}`] ?? 0) + 1;
  const m = decodeStun(b);
  if (typeof m === 'string') {
    if (!DECODE_FAILURES.includes(m as DecodeFailure)) throw new Error(`unknown failure ${m}`);
    stats[m] = (stats[m] ?? 0) + 1;
    return;
  }
  stats.decoded = (stats.decoded ?? 0) + 1;
  checkView(m, b);
  for (const t of knownTypes) {
    readXorAddress(m, t);
    readXorAddresses(m, t);
    readAddress(m, t);
    readUint32(m, t);
    readString(m, t);
    m.values(t);
  }
  readErrorCode(m);
  readChannelNumber(m);
  readRequestedTransport(m);
  readRequestedAddressFamily(m);
  readRequestedAddressFamily(m, Attr.ADDITIONAL_ADDRESS_FAMILY);
  readEvenPort(m);
  readUnknownAttributes(m);
  readReservationToken(m);
  readData(m);
  m.unknownComprehensionRequired();
  integrityKind(m);
  const integrity = verifyIntegrity(m, key);
  const fp = verifyFingerprint(m);
  stats[`mi:${integrity}`] = (stats[`mi:${integrity}`] ?? 0) + 1;
  stats[`fp:${fp}`] = (stats[`fp:${fp}`] ?? 0) + 1;
}

function checkView(m: StunMessage, b: Buffer): void {
  if (m.raw !== b) throw new Error('raw is not the input');
  if (m.transactionId.length !== 12) throw new Error('transaction id length');
  for (let i = 0; i < m.attributeCount; i++) {
    const off = m.valueOffsetAt(i);
    const len = m.valueLengthAt(i);
    if (off < 24 || off + len > b.length || (off & 3) !== 0) throw new Error(`attribute ${i} out of bounds`);
    if (m.valueAt(i).length !== len) throw new Error('valueAt length');
  }
}

describe('fuzz', () => {
  it(`decoders never throw on ${ITERATIONS} random and mutated datagrams (seed ${SEED})`, () => {
    const rng = new Prng(SEED);
    const seeds = corpus(rng);
    const stats: Record<string, number> = {};
    const started = Date.now();
    for (let i = 0; i < ITERATIONS; i++) {
      const r = rng.next();
      let input: Buffer;
      if (r < 0.1) input = rng.bytes(rng.int(120)); // pure random
      else if (r < 0.15) input = rng.pick(seeds); // unmodified
      else input = mutate(rng, rng.pick(seeds));
      try {
        exercise(input, stats);
      } catch (err) {
        throw new Error(`seed ${SEED} iteration ${i} input ${input.toString('hex')}: ${String(err)}`, { cause: err });
      }
    }
    const elapsed = Date.now() - started;
    // Every outcome class was reached, so the mutations really exercise the decoder.
    for (const k of [
      'decoded',
      'short',
      'not-stun',
      'bad-cookie',
      'bad-length',
      'bad-attribute-length',
      'mi:ok',
      'mi:mismatch',
      'mi:missing',
      'fp:ok',
      'fp:mismatch',
      'fp:missing',
      'cd:ok',
      'cd:bad-length',
      'cd:bad-channel',
    ]) {
      expect(stats[k] ?? 0, `${k} (${JSON.stringify(stats)})`).toBeGreaterThan(100);
    }
    expect(elapsed).toBeLessThan(10_000);
  });
});
