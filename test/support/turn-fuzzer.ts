/**
 * A structure-aware TURN fuzzer that gets past authentication: it builds Allocate, Refresh, CreatePermission,
 * ChannelBind requests, Send indications and ChannelData from mutated attribute lists, then signs the requests with
 * the long-term key and the nonce it was last given (MESSAGE-INTEGRITY, sometimes -SHA256, then FINGERPRINT
 * recomputed), so the mutations reach the handlers behind the authentication check. A few messages have their
 * credentials spoiled on purpose (no integrity, a wrong key, a bad nonce, an unknown user) or a byte flipped after
 * signing. Seeded (xorshift32): a failure replays with the same seed.
 *
 * The owner feeds every response back (`observe`): a 401/438 gives the next nonce (the long-term-credential
 * exchange is redone as a real client would), an Allocate success its RESERVATION-TOKEN, a ChannelBind success its
 * channel. Relayed data only ever goes to the owner's peers: a XOR-PEER-ADDRESS is either one of the peers (address
 * and port), or an address the relay's peer policy must refuse (the test's policy allows only the peers' address).
 */
import {
  Attr,
  KNOWN_ATTRIBUTES,
  Method,
  StunClass,
  StunWriter,
  decodeStun,
  newTransactionId,
  readChannelNumber,
  readErrorCode,
  readReservationToken,
  readString,
  verifyIntegrity,
  writeChannelDataHeader,
  type StunMessage,
  type TransportAddress,
} from '../../src/stun/index.js';
import { xorshift32 } from './datagram-fuzzer.js';

export interface FuzzIdentity {
  username: string;
  realm: string;
  /** The long-term key (MD5 of username:realm:password). */
  key: Buffer;
}

/** What was sent: the owner keeps it by transaction id to judge the response. */
export interface SentRequest {
  method: number;
  /** Signed with the right key and the current nonce, and not touched after signing. */
  signed: boolean;
  fingerprint: boolean;
}

export interface FuzzMessage {
  bytes: Buffer;
  /** Set when the bytes decode as a STUN request; `answerDue` unless a byte was flipped after signing. */
  request?: { tid: Buffer; answerDue: boolean } & SentRequest;
}

type Write = (w: StunWriter) => void;
interface Attribute {
  type: number;
  write: Write;
}

const METHODS = [Method.Allocate, Method.Refresh, Method.CreatePermission, Method.ChannelBind] as const;

export class TurnFuzzer {
  readonly #rand: () => number;
  readonly #id: FuzzIdentity;
  readonly #peers: readonly TransportAddress[];
  readonly #writer = new StunWriter();
  #nonce = '';
  #realm: string;
  readonly #tokens: Buffer[] = [];
  readonly #channels: number[] = [];
  readonly #recent: FuzzMessage[] = [];
  readonly #stream: boolean;

  /** `stream`: for TCP/TLS, ChannelData is always well framed (true length, padded): framing errors are separate. */
  constructor(seed: number, identity: FuzzIdentity, peers: readonly TransportAddress[], options: { stream?: boolean } = {}) {
    this.#stream = options.stream === true;
    this.#rand = xorshift32(seed);
    this.#id = identity;
    this.#realm = identity.realm;
    this.#peers = peers;
  }

  get nonce(): string {
    return this.#nonce;
  }

  /** Learns from a response: the nonce (401/438), reservation tokens, bound channels. */
  observe(response: StunMessage): void {
    const nonce = readString(response, Attr.NONCE);
    if (typeof nonce === 'string' && response.cls === StunClass.ErrorResponse) {
      const error = readErrorCode(response);
      if (error !== undefined && error !== 'bad-attribute' && (error.code === 401 || error.code === 438)) {
        this.#nonce = nonce;
        const realm = readString(response, Attr.REALM);
        if (typeof realm === 'string' && realm === this.#id.realm) this.#realm = realm;
      }
    }
    if (response.cls !== StunClass.SuccessResponse) return;
    if (response.method === Method.Allocate) {
      const token = readReservationToken(response);
      if (token instanceof Buffer) keep(this.#tokens, Buffer.from(token), 8);
    }
  }

  /** A ChannelBind for `channel` succeeded (the owner knows the request's channel). */
  bound(channel: number): void {
    if (!this.#channels.includes(channel)) keep(this.#channels, channel, 16);
  }

  /** The next message to send. */
  next(): FuzzMessage {
    const roll = this.#int(100);
    let m: FuzzMessage;
    if (roll < 5 && this.#recent.length > 0) m = this.#recent[this.#int(this.#recent.length)]; // a retransmission
    else if (roll < 20) m = this.#channelData();
    else if (roll < 35) m = this.#sendIndication();
    else if (roll < 38) m = this.request(Method.Binding, [], false);
    else if (roll < 40) m = this.request(0x100 + this.#int(0xeff), this.#mutate([]));
    else {
      const method = METHODS[this.#int(METHODS.length)];
      m = this.request(method, this.#mutate(this.#attributes(method)));
    }
    if (m.request !== undefined && roll >= 5) keep(this.#recent, m, 32);
    return m;
  }

  /**
   * One request with these attributes, signed unless `sign` is false; with small probabilities the credentials
   * are spoiled or a byte is flipped after signing.
   */
  request(method: number, attributes: readonly Attribute[], sign = true): FuzzMessage {
    const tid = newTransactionId();
    const w = this.#writer.reset(method, StunClass.Request, tid);
    for (const a of attributes) a.write(w);
    let signed: boolean;
    let answerDue = true;
    if (sign) {
      const spoil = this.#int(100);
      w.addString(Attr.USERNAME, spoil === 0 ? `${this.#id.username}x` : this.#id.username);
      w.addString(Attr.REALM, spoil === 1 ? 'other.realm' : this.#realm);
      w.addString(Attr.NONCE, spoil === 2 ? `${this.#nonce}0` : this.#nonce);
      if (spoil === 3) {
        // no MESSAGE-INTEGRITY
      } else if (spoil === 4) w.addMessageIntegrity(this.#bytes(16));
      else if (spoil < 10) w.addMessageIntegritySha256(this.#id.key, 16 + 4 * this.#int(5));
      else w.addMessageIntegrity(this.#id.key);
      if (this.#int(8) === 0) w.addBytes(0x8030 + this.#int(0x100), this.#bytes(this.#int(12))); // after integrity: ignored
    }
    if (this.#int(2) === 0) w.addFingerprint();
    const bytes = w.toBuffer();
    if (this.#int(40) === 0) {
      // A byte flipped after signing: integrity or fingerprint fails, or the structure breaks (dropped).
      const i = 20 + this.#int(Math.max(1, bytes.length - 20));
      if (i < bytes.length) bytes[i] ^= 1 << this.#int(8);
      answerDue = false;
    }
    const decoded = decodeStun(bytes);
    if (typeof decoded === 'string' || decoded.cls !== StunClass.Request) return { bytes };
    // What the server may accept: integrity with the right key over our username, realm and current nonce.
    signed =
      sign &&
      this.#nonce !== '' &&
      verifyIntegrity(decoded, this.#id.key) === 'ok' &&
      readString(decoded, Attr.USERNAME) === this.#id.username &&
      readString(decoded, Attr.REALM) === this.#id.realm &&
      readString(decoded, Attr.NONCE) === this.#nonce;
    return { bytes, request: { tid, method: decoded.method, signed, fingerprint: decoded.has(Attr.FINGERPRINT), answerDue } };
  }

  /** The attributes of a well-formed request of `method`, with values drawn from edge cases. */
  #attributes(method: number): Attribute[] {
    const out: Attribute[] = [];
    const maybe = (p: number, a: Attribute): void => {
      if (this.#rand() < p) out.push(a);
    };
    switch (method) {
      case Method.Allocate:
        maybe(0.95, { type: Attr.REQUESTED_TRANSPORT, write: (w) => w.addRequestedTransport(this.#pick([17, 17, 17, 17, 6, 0, 255])) });
        maybe(0.5, this.#lifetime());
        maybe(0.2, { type: Attr.EVEN_PORT, write: (w) => w.addEvenPort(this.#int(2) === 0) });
        maybe(0.1, this.#token());
        maybe(0.15, this.#family(Attr.REQUESTED_ADDRESS_FAMILY));
        maybe(0.15, this.#family(Attr.ADDITIONAL_ADDRESS_FAMILY));
        maybe(0.1, { type: Attr.DONT_FRAGMENT, write: (w) => w.addEmpty(Attr.DONT_FRAGMENT) });
        break;
      case Method.Refresh:
        maybe(0.8, this.#lifetime());
        maybe(0.15, this.#family(Attr.REQUESTED_ADDRESS_FAMILY));
        break;
      case Method.CreatePermission: {
        const n = 1 + this.#int(this.#int(4) === 0 ? 8 : 2);
        for (let i = 0; i < n; i++) out.push(this.#peer());
        break;
      }
      case Method.ChannelBind:
        maybe(0.95, this.#channelNumber());
        maybe(0.95, this.#peer());
        break;
    }
    return out;
  }

  /** Attribute-level mutations: drop, duplicate, swap, replace a value by random bytes, add unknown attributes. */
  #mutate(attributes: Attribute[]): Attribute[] {
    const out = [...attributes];
    const edits = this.#int(4) === 0 ? 1 + this.#int(3) : 0;
    for (let k = 0; k < edits; k++) {
      const op = this.#int(6);
      const i = this.#int(Math.max(1, out.length));
      if (op === 0 && out.length > 0) out.splice(i, 1);
      else if (op === 1 && out.length > 0) out.splice(i, 0, out[i]);
      else if (op === 2 && out.length > 1) [out[0], out[i]] = [out[i], out[0]];
      else if (op === 3 && out.length > 0) {
        const type = out[i].type;
        if (type !== Attr.XOR_PEER_ADDRESS) {
          const value = this.#bytes(this.#int(12));
          out[i] = { type, write: (w) => w.addBytes(type, value) };
        }
      } else if (op === 4) {
        // Unknown comprehension-required: 420 (with UNKNOWN-ATTRIBUTES).
        let type = 0x0030 + this.#int(0x7fcf);
        while (KNOWN_ATTRIBUTES.has(type)) type++;
        const value = this.#bytes(this.#int(8));
        out.push({ type, write: (w) => w.addBytes(type, value) });
      } else {
        const type = this.#pick([0x8030 + this.#int(0x7fcf), Attr.SOFTWARE, Attr.PADDING, Attr.ICE_CONTROLLED, Attr.DATA]);
        const value = this.#bytes(this.#int(24));
        out.push({ type, write: (w) => w.addBytes(type, value) });
      }
    }
    return out;
  }

  #lifetime(): Attribute {
    const v = this.#pick([0, 0, 1, 60, 599, 600, 601, 3600, 3601, 0xffffffff, Math.floor(this.#rand() * 0x100000000)]);
    return { type: Attr.LIFETIME, write: (w) => w.addUint32(Attr.LIFETIME, v) };
  }

  #token(): Attribute {
    const known = this.#tokens.length > 0 && this.#int(2) === 0;
    const value = known ? this.#tokens[this.#int(this.#tokens.length)] : this.#bytes(this.#int(3) === 0 ? this.#int(12) : 8);
    return { type: Attr.RESERVATION_TOKEN, write: (w) => w.addBytes(Attr.RESERVATION_TOKEN, value) };
  }

  #family(type: number): Attribute {
    if (this.#int(5) === 0) {
      const value = this.#bytes(this.#int(6));
      return { type, write: (w) => w.addBytes(type, value) };
    }
    const family = this.#int(2) === 0 ? 4 : 6;
    return { type, write: (w) => w.addRequestedAddressFamily(type, family) };
  }

  #channelNumber(): Attribute {
    const roll = this.#int(10);
    if (roll === 0) {
      const value = this.#bytes(4);
      return { type: Attr.CHANNEL_NUMBER, write: (w) => w.addBytes(Attr.CHANNEL_NUMBER, value) };
    }
    const n =
      roll < 6 ? 0x4000 + this.#int(16) : roll < 8 ? 0x4000 + this.#int(0x4000) : this.#pick([0, 0x3fff, 0x8000, 0xffff, this.#int(0x10000)]);
    return { type: Attr.CHANNEL_NUMBER, write: (w) => w.addChannelNumber(n) };
  }

  /** One of the peers (mostly), an address the policy refuses, an IPv6 peer, or a malformed value. */
  #peer(): Attribute {
    const roll = this.#int(10);
    if (roll < 6) {
      const peer = this.#peers[this.#int(this.#peers.length)];
      return { type: Attr.XOR_PEER_ADDRESS, write: (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer) };
    }
    if (roll < 8) {
      let address = `${this.#int(256)}.${this.#int(256)}.${this.#int(256)}.${this.#int(256)}`;
      while (this.#peers.some((p) => p.address === address)) address = `10.0.0.${this.#int(256)}`;
      const peer: TransportAddress = { family: 4, address, port: this.#int(65536) };
      return { type: Attr.XOR_PEER_ADDRESS, write: (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer) };
    }
    if (roll === 8) {
      const peer: TransportAddress = { family: 6, address: this.#pick(['::1', 'fe80::1', '2001:db8::7', '::ffff:127.0.0.1']), port: 1 + this.#int(65535) };
      return { type: Attr.XOR_PEER_ADDRESS, write: (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer) };
    }
    // Malformed: wrong length or family byte (400); never a well-formed address outside the peers.
    const value = this.#bytes(this.#pick([0, 3, 4, 7, 9, 19, 21]));
    return { type: Attr.XOR_PEER_ADDRESS, write: (w) => w.addBytes(Attr.XOR_PEER_ADDRESS, value) };
  }

  #sendIndication(): FuzzMessage {
    const w = this.#writer.reset(Method.Send, StunClass.Indication, newTransactionId());
    const attributes: Attribute[] = [];
    if (this.#int(20) !== 0) attributes.push(this.#peer());
    if (this.#int(20) !== 0) {
      const data = this.#bytes(this.#int(4) === 0 ? this.#int(1200) : this.#int(64));
      attributes.push({ type: Attr.DATA, write: (x) => x.addBytes(Attr.DATA, data) });
    }
    if (this.#int(10) === 0) {
      const type = 0x0031 + this.#int(0x0f); // unknown comprehension-required: the indication is dropped
      attributes.push({ type, write: (x) => x.addBytes(type, Buffer.alloc(4)) });
    }
    for (const a of attributes) a.write(w);
    if (this.#int(2) === 0) w.addFingerprint();
    return { bytes: w.toBuffer() };
  }

  #channelData(): FuzzMessage {
    const channel =
      this.#channels.length > 0 && this.#int(4) !== 0 ? this.#channels[this.#int(this.#channels.length)] : 0x4000 + this.#int(0x4000);
    const length = this.#int(4) === 0 ? this.#int(1200) : this.#int(100);
    const roll = this.#int(10);
    const declared = this.#stream || roll > 1 ? length : roll === 0 ? this.#int(0x10000) : Math.max(0, length - 1 - this.#int(4));
    const padded = this.#stream || this.#int(2) === 0 ? (length + 3) & ~3 : length;
    const b = Buffer.alloc(4 + padded);
    writeChannelDataHeader(b, 0, channel, declared);
    for (let i = 4; i < 4 + length; i++) b[i] = this.#int(256);
    return { bytes: b };
  }

  #int(n: number): number {
    return Math.floor(this.#rand() * n);
  }

  #pick<T>(values: readonly T[]): T {
    return values[this.#int(values.length)];
  }

  #bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.#int(256);
    return b;
  }
}

/** The channel number a ChannelBind request asks for (to record it once it succeeds). */
export function requestedChannel(request: Buffer): number | undefined {
  const msg = decodeStun(request);
  if (typeof msg === 'string') return undefined;
  const n = readChannelNumber(msg);
  return typeof n === 'number' ? n : undefined;
}

function keep<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.shift();
}
