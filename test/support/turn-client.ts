/**
 * A small promise-based TURN client over UDP, TCP or TLS, built on the anyturn codec, for tests and benches.
 *
 *   const c = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username, password });
 *   // over a stream: TurnClient.connect({ ..., transport: 'tcp' | 'tls' }) (c.socket is then the net.Socket)
 *   const { relayed } = await c.allocate();          // 401 → REALM/NONCE → signed retry (438 → new nonce)
 *   await c.createPermission(peer);  await c.channelBind(0x4000, peer);
 *   c.sendIndication(peer, data);    c.sendChannelData(0x4000, data);
 *   c.on('data', (peer, data, via) => ...);          // Data indications and ChannelData from the server
 *   await c.refresh(0); await c.close();
 *
 * Over UDP requests are retransmitted (RFC 8489 §6.2.1: RTO doubling, 7 transmissions); over TCP/TLS they are sent
 * once and ChannelData is padded to 4 (RFC 8656 §12.5). Error responses reject with a TurnErrorResponse carrying the
 * code. Responses to signed requests must carry a valid MESSAGE-INTEGRITY, otherwise the promise rejects: the client
 * is also a checker of the server.
 */
import type dgram from 'node:dgram';
import type net from 'node:net';
import { longTermKey } from '../../src/auth/long-term.js';
import { TypedEmitter } from '../../src/events.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  channelDataLength,
  channelNumberOf,
  decodeStun,
  isChannelData,
  newTransactionId,
  paddedLength,
  readData,
  readErrorCode,
  readString,
  readUint32,
  readXorAddress,
  readXorAddresses,
  verifyFingerprint,
  verifyIntegrity,
  writeChannelDataHeader,
  type StunMessage,
  type TransportAddress,
} from '../../src/stun/index.js';
import { openDatagramSocket, openStreamSocket, type ClientSocket, type ClientSocketOptions } from './turn-client-socket.js';

export interface TurnClientOptions {
  server: { address: string; port: number };
  username?: string;
  password?: string;
  /** Local address to bind (default: 127.0.0.1, or ::1 for an IPv6 server). */
  localAddress?: string;
  /** Add FINGERPRINT to requests (default true). */
  fingerprint?: boolean;
  /** MESSAGE-INTEGRITY (sha1, default) or MESSAGE-INTEGRITY-SHA256. */
  integrity?: 'sha1' | 'sha256';
  /** First retransmission timeout (default 250 ms); doubles up to 7 transmissions. */
  rtoMs?: number;
  maxTransmissions?: number;
}

/** The client over TCP or TLS (TLS: any server certificate is accepted). */
export interface StreamTurnClientOptions extends TurnClientOptions {
  transport: 'tcp' | 'tls';
}

export class TurnErrorResponse extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly response: StunMessage,
  ) {
    super(`STUN error ${code} ${reason}`);
    this.name = 'TurnErrorResponse';
  }
}

export interface AllocateOptions {
  lifetime?: number;
  /** REQUESTED-TRANSPORT protocol number (default 17 UDP); null leaves the attribute out. */
  transport?: number | null;
  evenPort?: { reserve: boolean };
  reservationToken?: Buffer;
  family?: 4 | 6;
  additionalFamily?: 4 | 6;
  dontFragment?: boolean;
  /** Writes extra attributes (tests of odd requests). */
  extra?: (w: StunWriter) => void;
}

export interface AllocateResult {
  relayed: TransportAddress[];
  mapped: TransportAddress | undefined;
  lifetime: number | undefined;
  reservationToken: Buffer | undefined;
  addressError: { family: 4 | 6; code: number } | undefined;
  response: StunMessage;
}

export type DataVia = 'channel' | 'indication';

export type TurnClientEvents = {
  /** Application data relayed from a peer. `channel` is set for ChannelData. */
  data: [peer: TransportAddress, data: Buffer, via: DataVia, channel: number | undefined];
  /** Any STUN message that is not an answer to a pending request. */
  message: [msg: StunMessage];
  /** Every message from the server, before it is looked at (a datagram, or one framed message). */
  packet: [data: Buffer];
};

interface Pending {
  resolve(msg: StunMessage): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export class TurnClient<S extends dgram.Socket | net.Socket = dgram.Socket> extends TypedEmitter<TurnClientEvents> {
  readonly options: TurnClientOptions;
  readonly socket: S;
  /** Resolves once the socket is closed (by close(), or by the server on TCP/TLS). */
  readonly closed: Promise<void>;
  realm: string | undefined;
  nonce: string | undefined;
  /** Peer of each channel this client bound. */
  readonly channels = new Map<number, TransportAddress>();
  readonly #pending = new Map<string, Pending>();
  readonly #writer = new StunWriter();
  readonly #io: ClientSocket<S>;
  #closed = false;

  private constructor(options: TurnClientOptions, io: ClientSocket<S>) {
    super();
    this.options = options;
    this.#io = io;
    this.socket = io.socket;
    this.closed = io.closed;
    // A connection the server closed answers nothing more.
    void io.closed.then(() => this.#rejectPending('connection closed'));
  }

  static connect(options: StreamTurnClientOptions): Promise<TurnClient<net.Socket>>;
  static connect(options: TurnClientOptions): Promise<TurnClient<dgram.Socket>>;
  static async connect(options: TurnClientOptions | StreamTurnClientOptions): Promise<TurnClient<dgram.Socket | net.Socket>> {
    let deliver = (_packet: Buffer): void => {};
    const socketOptions: ClientSocketOptions = {
      server: options.server,
      transport: 'transport' in options ? options.transport : 'udp',
      localAddress: options.localAddress,
      onPacket: (packet) => deliver(packet),
    };
    const io = socketOptions.transport === 'udp' ? await openDatagramSocket(socketOptions) : await openStreamSocket(socketOptions);
    const client = new TurnClient<dgram.Socket | net.Socket>(options, io);
    deliver = (packet) => client.#onPacket(packet);
    return client;
  }

  get localAddress(): TransportAddress {
    return this.#io.localAddress();
  }

  /** The long-term key MD5(username:realm:password), once the realm is known. */
  get key(): Buffer | undefined {
    const { username, password } = this.options;
    if (username === undefined || password === undefined || this.realm === undefined) return undefined;
    return longTermKey(username, this.realm, password);
  }

  // ---- raw access -------------------------------------------------------------------------------------------

  sendRaw(data: Buffer): void {
    this.#io.send(data);
  }

  /** Sends bytes and resolves with the next response carrying `transactionId` (no retransmission). */
  exchangeRaw(data: Buffer, transactionId: Buffer, timeoutMs = 2000): Promise<StunMessage> {
    const p = this.#await(transactionId, timeoutMs);
    this.sendRaw(data);
    return p;
  }

  /**
   * Sends a request built by `build` (after the header) and resolves with its response, success or error.
   * With `sign`, adds USERNAME/REALM/NONCE and MESSAGE-INTEGRITY. Retransmits until answered.
   */
  async request(method: number, build?: (w: StunWriter) => void, opts: { sign?: boolean } = {}): Promise<StunMessage> {
    const tid = newTransactionId();
    const packet = this.encode(method, StunClass.Request, tid, build, opts.sign === true);
    const rto = this.options.rtoMs ?? 250;
    const max = this.#io.stream ? 1 : (this.options.maxTransmissions ?? 7);
    const total = rto * (2 ** max - 1) + rto * 16;
    const answer = this.#await(tid, total);
    let sent = 0;
    let wait = rto;
    const retransmit = (): void => {
      if (this.#closed || !this.#pending.has(tid.toString('hex'))) return;
      if (sent >= max) return;
      this.sendRaw(packet);
      sent++;
      setTimeout(retransmit, wait).unref();
      wait *= 2;
    };
    retransmit();
    const response = await answer;
    if (opts.sign === true && response.cls === StunClass.SuccessResponse) this.#checkIntegrity(response);
    return response;
  }

  /**
   * A TURN request with the long-term mechanism: unsigned first when no nonce is known; 401 → take REALM and
   * NONCE and retry signed; 438 → new NONCE and retry. Resolves with the success response, rejects with a
   * TurnErrorResponse otherwise.
   */
  async authRequest(method: number, build?: (w: StunWriter) => void): Promise<StunMessage> {
    let sign = this.nonce !== undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await this.request(method, build, { sign });
      if (response.cls === StunClass.SuccessResponse) return response;
      const err = errorOf(response);
      const realm = readString(response, Attr.REALM);
      const nonce = readString(response, Attr.NONCE);
      const canRetry = typeof nonce === 'string' && typeof realm === 'string';
      if ((err.code === 401 && !sign && canRetry) || (err.code === 438 && canRetry)) {
        this.realm = realm;
        this.nonce = nonce;
        sign = true;
        continue;
      }
      throw err;
    }
    throw new Error('authentication did not converge');
  }

  // ---- TURN operations --------------------------------------------------------------------------------------

  async binding(): Promise<TransportAddress> {
    const r = await this.request(Method.Binding);
    if (r.cls !== StunClass.SuccessResponse) throw errorOf(r);
    const mapped = readXorAddress(r, Attr.XOR_MAPPED_ADDRESS);
    if (mapped === undefined || mapped === 'bad-attribute') throw new Error('Binding response without XOR-MAPPED-ADDRESS');
    return mapped;
  }

  async allocate(opts: AllocateOptions = {}): Promise<AllocateResult> {
    const r = await this.authRequest(Method.Allocate, (w) => {
      if (opts.transport !== null) w.addRequestedTransport(opts.transport ?? 17);
      if (opts.lifetime !== undefined) w.addUint32(Attr.LIFETIME, opts.lifetime);
      if (opts.evenPort !== undefined) w.addEvenPort(opts.evenPort.reserve);
      if (opts.reservationToken !== undefined) w.addBytes(Attr.RESERVATION_TOKEN, opts.reservationToken);
      if (opts.family !== undefined) w.addRequestedAddressFamily(Attr.REQUESTED_ADDRESS_FAMILY, opts.family);
      if (opts.additionalFamily !== undefined) w.addRequestedAddressFamily(Attr.ADDITIONAL_ADDRESS_FAMILY, opts.additionalFamily);
      if (opts.dontFragment === true) w.addEmpty(Attr.DONT_FRAGMENT);
      opts.extra?.(w);
    });
    const relayed = readXorAddresses(r, Attr.XOR_RELAYED_ADDRESS);
    const mapped = readXorAddress(r, Attr.XOR_MAPPED_ADDRESS);
    const lifetime = readUint32(r, Attr.LIFETIME);
    const token = r.value(Attr.RESERVATION_TOKEN);
    const ae = r.value(Attr.ADDRESS_ERROR_CODE);
    if (relayed === 'bad-attribute' || relayed.length === 0) throw new Error('Allocate response without XOR-RELAYED-ADDRESS');
    return {
      relayed,
      mapped: mapped === 'bad-attribute' ? undefined : mapped,
      lifetime: lifetime === 'bad-attribute' ? undefined : lifetime,
      reservationToken: token === undefined ? undefined : Buffer.from(token),
      addressError: ae === undefined || ae.length < 4 ? undefined : { family: ae[0] === 2 ? 6 : 4, code: (ae[2] & 7) * 100 + ae[3] },
      response: r,
    };
  }

  /** Refresh; resolves with the granted LIFETIME (0 = deleted). */
  async refresh(lifetime?: number, family?: 4 | 6): Promise<number> {
    const r = await this.authRequest(Method.Refresh, (w) => {
      if (lifetime !== undefined) w.addUint32(Attr.LIFETIME, lifetime);
      if (family !== undefined) w.addRequestedAddressFamily(Attr.REQUESTED_ADDRESS_FAMILY, family);
    });
    const l = readUint32(r, Attr.LIFETIME);
    return typeof l === 'number' ? l : -1;
  }

  async createPermission(...peers: TransportAddress[]): Promise<void> {
    await this.authRequest(Method.CreatePermission, (w) => {
      for (const p of peers) w.addXorAddress(Attr.XOR_PEER_ADDRESS, p);
    });
  }

  async channelBind(channel: number, peer: TransportAddress): Promise<void> {
    await this.authRequest(Method.ChannelBind, (w) => {
      w.addChannelNumber(channel);
      w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer);
    });
    this.channels.set(channel, peer);
  }

  sendIndication(peer: TransportAddress, data: Buffer): void {
    this.sendRaw(
      this.encode(Method.Send, StunClass.Indication, newTransactionId(), (w) => {
        w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer);
        w.addBytes(Attr.DATA, data);
      }, false),
    );
  }

  /** ChannelData; on TCP/TLS padded to 4 with zeros (RFC 8656 §12.5). */
  sendChannelData(channel: number, data: Buffer): void {
    const b = Buffer.alloc(this.#io.stream ? paddedLength(4 + data.length) : 4 + data.length);
    writeChannelDataHeader(b, 0, channel, data.length);
    data.copy(b, 4);
    this.sendRaw(b);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#rejectPending('client closed');
    await this.#io.close();
  }

  // ---- internals --------------------------------------------------------------------------------------------

  /** Encodes a message; the returned buffer is a copy. */
  encode(method: number, cls: StunClass, tid: Buffer, build?: (w: StunWriter) => void, sign = false): Buffer {
    const w = this.#writer.reset(method, cls, tid);
    build?.(w);
    if (sign) {
      const key = this.key;
      if (key === undefined || this.nonce === undefined || this.realm === undefined) throw new Error('no credentials/realm/nonce to sign with');
      w.addString(Attr.USERNAME, this.options.username!);
      w.addString(Attr.REALM, this.realm);
      w.addString(Attr.NONCE, this.nonce);
      if (this.options.integrity === 'sha256') w.addMessageIntegritySha256(key);
      else w.addMessageIntegrity(key);
    }
    if (this.options.fingerprint !== false) w.addFingerprint();
    return w.toBuffer();
  }

  #checkIntegrity(response: StunMessage): void {
    const key = this.key;
    if (key === undefined || verifyIntegrity(response, key) !== 'ok') {
      throw new Error('the response to a signed request lacks a valid MESSAGE-INTEGRITY');
    }
  }

  #rejectPending(why: string): void {
    for (const [, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(new Error(why));
    }
    this.#pending.clear();
  }

  #await(tid: Buffer, timeoutMs: number): Promise<StunMessage> {
    const id = tid.toString('hex');
    return new Promise<StunMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`no response to transaction ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { resolve, reject, timer });
    });
  }

  #onPacket(buf: Buffer): void {
    this.safeEmit('packet', buf);
    if (isChannelData(buf)) {
      const channel = channelNumberOf(buf);
      const len = channelDataLength(buf);
      const peer = this.channels.get(channel);
      if (peer === undefined || 4 + len > buf.length) return;
      this.safeEmit('data', peer, buf.subarray(4, 4 + len), 'channel', channel);
      return;
    }
    const msg = decodeStun(buf);
    if (typeof msg === 'string') return;
    if (msg.has(Attr.FINGERPRINT) && verifyFingerprint(msg) !== 'ok') return;
    if (msg.cls === StunClass.SuccessResponse || msg.cls === StunClass.ErrorResponse) {
      const id = msg.transactionId.toString('hex');
      const p = this.#pending.get(id);
      if (p !== undefined) {
        this.#pending.delete(id);
        clearTimeout(p.timer);
        p.resolve(msg);
        return;
      }
    }
    if (msg.cls === StunClass.Indication && msg.method === Method.Data) {
      const peer = readXorAddress(msg, Attr.XOR_PEER_ADDRESS);
      const data = readData(msg);
      if (peer !== undefined && peer !== 'bad-attribute' && data !== undefined) {
        this.safeEmit('data', peer, data, 'indication', undefined);
        return;
      }
    }
    this.safeEmit('message', msg);
  }
}

/** The TurnErrorResponse of an error response (code 0 when ERROR-CODE is missing). */
export function errorOf(response: StunMessage): TurnErrorResponse {
  const e = readErrorCode(response);
  if (e === undefined || e === 'bad-attribute') return new TurnErrorResponse(0, 'no ERROR-CODE', response);
  return new TurnErrorResponse(e.code, e.reason, response);
}
