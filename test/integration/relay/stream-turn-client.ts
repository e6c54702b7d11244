/**
 * A small TURN client over TCP or TLS for the listener tests: frames what the relay sends with the relay's own
 * StreamFramer (and checks the ChannelData padding it must add), matches responses by transaction id, does the
 * long-term credential dance (401 → REALM/NONCE → signed retry).
 */
import net from 'node:net';
import tls from 'node:tls';
import { longTermKey } from '../../../src/auth/long-term.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeStun,
  newTransactionId,
  readData,
  readErrorCode,
  readString,
  readXorAddress,
  type StunMessage,
  type TransportAddress,
} from '../../../src/stun/index.js';
import { StreamFramer } from '../../../relay/listen/framing.js';

export interface StreamClientOptions {
  host: string;
  port: number;
  tls?: boolean;
  username?: string;
  password?: string;
}

export class StreamTurnClient {
  readonly socket: net.Socket;
  readonly received: Buffer[] = [];
  /** Raw bytes received (to check ChannelData padding on the wire). */
  readonly wire: Buffer[] = [];
  readonly data: { peer: TransportAddress | number; data: Buffer }[] = [];
  readonly closed: Promise<void>;
  #realm: string | undefined;
  #nonce: string | undefined;
  readonly #options: StreamClientOptions;
  readonly #pending = new Map<string, (m: StunMessage) => void>();

  private constructor(socket: net.Socket, options: StreamClientOptions) {
    this.socket = socket;
    this.#options = options;
    const framer = new StreamFramer((m) => this.#onMessage(Buffer.from(m)));
    socket.on('data', (chunk: Buffer) => {
      this.wire.push(Buffer.from(chunk));
      if (framer.push(chunk) === 'garbage') socket.destroy(new Error('relay sent garbage'));
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static connect(options: StreamClientOptions): Promise<StreamTurnClient> {
    return new Promise((resolve, reject) => {
      const socket = options.tls
        ? tls.connect({ host: options.host, port: options.port, rejectUnauthorized: false })
        : net.connect({ host: options.host, port: options.port });
      socket.once('error', reject);
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        resolve(new StreamTurnClient(socket, options));
      });
    });
  }

  get key(): Buffer {
    return longTermKey(this.#options.username!, this.#realm!, this.#options.password!);
  }

  write(data: Buffer): void {
    this.socket.write(data);
  }

  request(method: number, build?: (w: StunWriter) => void, sign = false, timeoutMs = 3000): Promise<StunMessage> {
    const tid = newTransactionId();
    const w = new StunWriter().reset(method, StunClass.Request, tid);
    build?.(w);
    if (sign) {
      w.addString(Attr.USERNAME, this.#options.username!).addString(Attr.REALM, this.#realm!).addString(Attr.NONCE, this.#nonce!);
      w.addMessageIntegrity(this.key);
    }
    w.addFingerprint();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to method ${method}`)), timeoutMs);
      this.#pending.set(tid.toString('hex'), (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.socket.write(w.toBuffer());
    });
  }

  async authRequest(method: number, build?: (w: StunWriter) => void): Promise<StunMessage> {
    let sign = this.#nonce !== undefined;
    for (let i = 0; i < 3; i++) {
      const r = await this.request(method, build, sign);
      if (r.cls === StunClass.SuccessResponse) return r;
      const e = readErrorCode(r);
      const code = typeof e === 'object' ? e.code : 0;
      if (code === 401 || code === 438) {
        this.#realm = readString(r, Attr.REALM) as string;
        this.#nonce = readString(r, Attr.NONCE) as string;
        sign = true;
        continue;
      }
      throw new Error(`error ${code}`);
    }
    throw new Error('authentication did not converge');
  }

  async binding(): Promise<TransportAddress> {
    const r = await this.request(Method.Binding);
    const a = readXorAddress(r, Attr.XOR_MAPPED_ADDRESS);
    if (a === undefined || a === 'bad-attribute') throw new Error('no XOR-MAPPED-ADDRESS');
    return a;
  }

  async allocate(): Promise<TransportAddress> {
    const r = await this.authRequest(Method.Allocate, (w) => w.addRequestedTransport(17));
    const a = readXorAddress(r, Attr.XOR_RELAYED_ADDRESS);
    if (a === undefined || a === 'bad-attribute') throw new Error('no XOR-RELAYED-ADDRESS');
    return a;
  }

  async channelBind(channel: number, peer: TransportAddress): Promise<void> {
    await this.authRequest(Method.ChannelBind, (w) => w.addChannelNumber(channel).addXorAddress(Attr.XOR_PEER_ADDRESS, peer));
  }

  /** ChannelData, padded to 4 as RFC 8656 §12.5 requires on streams. */
  sendChannelData(channel: number, data: Buffer): void {
    const b = Buffer.alloc((4 + data.length + 3) & ~3);
    b.writeUInt16BE(channel, 0);
    b.writeUInt16BE(data.length, 2);
    data.copy(b, 4);
    this.socket.write(b);
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }

  #onMessage(m: Buffer): void {
    this.received.push(m);
    if ((m[0] & 0xc0) === 0x40) {
      this.data.push({ peer: m.readUInt16BE(0), data: m.subarray(4, 4 + m.readUInt16BE(2)) });
      return;
    }
    const msg = decodeStun(m);
    if (typeof msg === 'string') return;
    if (msg.cls === StunClass.Indication && msg.method === Method.Data) {
      const peer = readXorAddress(msg, Attr.XOR_PEER_ADDRESS);
      const data = readData(msg);
      if (typeof peer === 'object' && data !== undefined) this.data.push({ peer, data });
      return;
    }
    const done = this.#pending.get(msg.transactionId.toString('hex'));
    if (done) {
      this.#pending.delete(msg.transactionId.toString('hex'));
      done(msg);
    }
  }
}
