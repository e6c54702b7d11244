/**
 * TurnSession: a minimal TURN client (RFC 8656 over UDP) for the load generator, built on our codec (src/stun).
 *
 * One session = one client UDP socket (so one 5-tuple) talking to one server. It does what a browser does:
 * Allocate without credentials, take REALM and NONCE from the 401, Allocate again with USERNAME, REALM, NONCE,
 * MESSAGE-INTEGRITY and FINGERPRINT; then CreatePermission, ChannelBind and Refresh with the same nonce (438 Stale
 * Nonce is followed). Requests are retransmitted (RFC 8489 §6.2.1 style, shorter timers: loopback only).
 * ChannelData arriving on the socket is handed to `onChannelData` untouched.
 *
 * Sockets come from the relay's own UDP I/O (relay/datagram/: the native engine where built, else Node's dgram),
 * so that the generator spends as little CPU per datagram as the host allows, the same for every server measured.
 */
import dgram from 'node:dgram';
import { selectUdpIo } from '../../relay/datagram/udp-io.js';
import type { UdpIo, UdpSocket } from '../../relay/datagram/udp-socket.js';
import { longTermKey } from '../../src/auth/long-term.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeStun,
  newTransactionId,
  readErrorCode,
  readString,
  readXorAddress,
  type StunMessage,
  type TransportAddress,
} from '../../src/stun/index.js';

export interface Endpoint {
  address: string;
  port: number;
}

export interface TurnCredentials {
  username: string;
  password: string;
}

export class TurnRequestError extends Error {
  constructor(
    readonly method: number,
    readonly code: number | 'timeout' | 'bad-response' | 'closed',
    reason: string,
  ) {
    super(`TURN request 0x${method.toString(16)} failed: ${code} ${reason}`);
  }
}

interface Pending {
  tid: Buffer;
  resolve(msg: StunMessage): void;
  reject(err: Error): void;
}

/** Initial retransmission timeout and attempts (7 sends over ~12 s: RFC 8489 Rc=7, with RTO 100 ms doubling). */
const RTO_MS = 100;
const MAX_SENDS = 7;
const REQUESTED_TRANSPORT_UDP = 17;

const writer = new StunWriter();
const keyCache = new Map<string, Buffer>();

function keyFor(c: TurnCredentials, realm: string): Buffer {
  const id = `${c.username}\u0000${realm}\u0000${c.password}`;
  let k = keyCache.get(id);
  if (k === undefined) {
    k = longTermKey(c.username, realm, c.password);
    keyCache.set(id, k);
  }
  return k;
}

/** The generator's UDP I/O, chosen once per process. */
let io: UdpIo | undefined;
export function generatorUdpIo(): UdpIo {
  io ??= selectUdpIo('auto');
  return io;
}

export class TurnSession {
  readonly socket: UdpSocket;
  /** Datagrams the socket did not take (refused at once, or reported later by Node's dgram). */
  sendErrors = 0;
  relayed: TransportAddress | undefined;
  /** Requests sent again because no answer came within the RTO. */
  retransmits = 0;
  /** Called with every ChannelData message received (the relay's buffer, header included). */
  onChannelData: ((msg: Buffer) => void) | undefined;
  private realm: string | undefined;
  private nonce: string | undefined;
  private readonly pending: Pending[] = [];
  private closed = false;

  private constructor(
    socket: UdpSocket,
    private readonly server: Endpoint,
    private readonly creds: TurnCredentials,
  ) {
    this.socket = socket;
  }

  /** Opens a client socket on `localAddress` (ephemeral port) for the server; optional socket buffer sizes. */
  static async open(server: Endpoint, creds: TurnCredentials, localAddress = '127.0.0.1', bufferBytes?: number): Promise<TurnSession> {
    let session: TurnSession | undefined;
    const socket = await generatorUdpIo().bind(
      { family: 4, address: localAddress, port: 0, receiveBufferSize: bufferBytes, sendBufferSize: bufferBytes },
      {
        // Only the server talks to this socket (it is not connected: the native engine has no connect()).
        message: (msg, address, port) => {
          if (session !== undefined && port === server.port && address === server.address) session.onMessage(msg);
        },
        sendError: () => {
          if (session !== undefined) session.sendErrors++;
        },
      },
    );
    session = new TurnSession(socket, server, creds);
    return session;
  }

  get localPort(): number {
    return this.socket.localPort;
  }

  /** Sends one datagram to the server (ChannelData, indications); false when the socket did not take it. */
  send(datagram: Buffer): boolean {
    if (this.socket.send(datagram, this.server.port, this.server.address)) return true;
    this.sendErrors++;
    return false;
  }

  private onMessage(msg: Buffer): void {
    if (msg.length >= 4 && (msg[0] & 0xc0) === 0x40) {
      this.onChannelData?.(msg);
      return;
    }
    const m = decodeStun(msg);
    if (typeof m === 'string') return;
    if (m.cls !== StunClass.SuccessResponse && m.cls !== StunClass.ErrorResponse) return;
    for (let i = 0; i < this.pending.length; i++) {
      const p = this.pending[i];
      if (p.tid.equals(m.transactionId)) {
        this.pending.splice(i, 1);
        p.resolve(m);
        return;
      }
    }
  }

  /** Sends one request (retransmitting) and resolves with the response of either class. */
  private transact(method: number, message: Buffer, tid: Buffer): Promise<StunMessage> {
    return new Promise<StunMessage>((resolve, reject) => {
      let sends = 0;
      let timer: NodeJS.Timeout | undefined;
      const pending: Pending = {
        tid,
        resolve: (msg) => {
          clearTimeout(timer);
          resolve(msg);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const fire = (): void => {
        if (this.closed) return;
        if (sends === MAX_SENDS) {
          const i = this.pending.indexOf(pending);
          if (i >= 0) this.pending.splice(i, 1);
          reject(new TurnRequestError(method, 'timeout', `no answer after ${sends} sends`));
          return;
        }
        if (sends > 0) this.retransmits++;
        timer = setTimeout(fire, RTO_MS << sends);
        sends++;
        this.send(message);
      };
      this.pending.push(pending);
      fire();
    });
  }

  /**
   * One authenticated request: `build` adds the method's own attributes. Without a nonce yet the first attempt
   * goes unauthenticated (the 401 gives REALM and NONCE); 401 and 438 are followed once each.
   */
  private async request(method: number, build: (w: StunWriter) => void): Promise<StunMessage> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const tid = newTransactionId();
      writer.reset(method, StunClass.Request, tid);
      build(writer);
      if (this.realm !== undefined && this.nonce !== undefined) {
        writer
          .addString(Attr.USERNAME, this.creds.username)
          .addString(Attr.REALM, this.realm)
          .addString(Attr.NONCE, this.nonce)
          .addMessageIntegrity(keyFor(this.creds, this.realm));
      }
      writer.addFingerprint();
      const res = await this.transact(method, writer.toBuffer(), tid);
      if (res.cls === StunClass.SuccessResponse) return res;
      const err = readErrorCode(res);
      const code = err === undefined || err === 'bad-attribute' ? 0 : err.code;
      if (code === 401 || code === 438) {
        const realm = readString(res, Attr.REALM);
        const nonce = readString(res, Attr.NONCE);
        if (typeof nonce === 'string' && (code === 438 || typeof realm === 'string')) {
          const authenticatedAlready = this.nonce !== undefined && code === 401;
          if (typeof realm === 'string') this.realm = realm;
          this.nonce = nonce;
          if (!authenticatedAlready) continue;
        }
      }
      const reason = err === undefined || err === 'bad-attribute' ? '' : err.reason;
      throw new TurnRequestError(method, code || 'bad-response', reason);
    }
    throw new TurnRequestError(method, 'bad-response', 'authentication loop');
  }

  /** Allocate (UDP relay); returns the relayed transport address. */
  async allocate(lifetimeSeconds?: number): Promise<TransportAddress> {
    const res = await this.request(Method.Allocate, (w) => {
      w.addRequestedTransport(REQUESTED_TRANSPORT_UDP);
      if (lifetimeSeconds !== undefined) w.addUint32(Attr.LIFETIME, lifetimeSeconds);
    });
    const relayed = readXorAddress(res, Attr.XOR_RELAYED_ADDRESS);
    if (relayed === undefined || relayed === 'bad-attribute') {
      throw new TurnRequestError(Method.Allocate, 'bad-response', 'no XOR-RELAYED-ADDRESS');
    }
    this.relayed = relayed;
    return relayed;
  }

  async createPermission(peer: TransportAddress): Promise<void> {
    await this.request(Method.CreatePermission, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer));
  }

  async channelBind(channel: number, peer: TransportAddress): Promise<void> {
    await this.request(Method.ChannelBind, (w) =>
      w.addChannelNumber(channel).addXorAddress(Attr.XOR_PEER_ADDRESS, peer),
    );
  }

  /** Refresh; lifetime 0 deletes the allocation, no lifetime asks for the server's default. */
  async refresh(lifetimeSeconds?: number): Promise<void> {
    await this.request(Method.Refresh, (w) => {
      if (lifetimeSeconds !== undefined) w.addUint32(Attr.LIFETIME, lifetimeSeconds);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.splice(0)) p.reject(new TurnRequestError(0, 'closed', 'session closed'));
    this.socket.close();
  }
}

/** One STUN Binding request; true when a success response arrives within `timeoutMs`. */
export async function stunBinding(server: Endpoint, timeoutMs: number): Promise<boolean> {
  const socket = dgram.createSocket('udp4');
  const tid = newTransactionId();
  const req = new StunWriter().reset(Method.Binding, StunClass.Request, tid).addFingerprint().toBuffer();
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      socket.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      socket.on('message', (msg) => {
        const m = decodeStun(msg);
        if (typeof m !== 'string' && m.cls === StunClass.SuccessResponse && m.transactionId.equals(tid)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      socket.send(req, server.port, server.address);
    });
  } finally {
    socket.close();
  }
}
