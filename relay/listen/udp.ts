/**
 * UDP listener: one UDP socket bound to address:port (unicast or anycast role) that feeds the TURN core and
 * is the ClientTransport the core answers through. The socket comes from the server's UDP I/O (relay/datagram/:
 * the native engine, or Node's dgram).
 *
 * Per datagram: ChannelData goes straight to the data path (listen/udp.ts → turn/data-path.ts →
 * stun/channel-data.ts), everything else to TurnServer.handlePacket, which counts and drops malformed input.
 * A STUN message is copied first: it may be kept (retransmissions, pending anycast answers) and a datagram of the
 * native engine shares its memory with the rest of its batch. Socket errors are logged, never fatal.
 */
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { isChannelData } from '../../src/stun/index.js';
import type { UdpSocket } from '../datagram/udp-socket.js';
import type { ClientTransport, ListenerRole } from '../turn/client-transport.js';
import type { DataPath } from '../turn/data-path.js';
import { familyOf } from '../turn/five-tuple.js';
import type { TurnServer } from '../turn/turn-server.js';

export interface UdpListenerOptions {
  /** IP address to bind (an anycast address for role 'anycast'). */
  address: string;
  /** Port to bind; 0 picks a free one (see localPort after listen()). */
  port: number;
  role: ListenerRole;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the kernel may cap them at net.core.rmem_max / wmem_max). */
  receiveBufferSize?: number;
  sendBufferSize?: number;
}

export class UdpListener implements ClientTransport {
  readonly protocol = 'udp' as const;
  readonly role: ListenerRole;
  readonly #options: UdpListenerOptions;
  readonly #server: TurnServer;
  readonly #dataPath: DataPath;
  readonly #log: Logger;
  #socket: UdpSocket | undefined;
  #localAddress: string;
  #localPort: number;
  #state: 'new' | 'binding' | 'listening' | 'closed' = 'new';

  constructor(options: UdpListenerOptions, deps: { server: TurnServer; log: Logger }) {
    this.#options = options;
    this.role = options.role;
    this.#server = deps.server;
    this.#dataPath = deps.server.dataPath;
    this.#localAddress = options.address;
    this.#localPort = options.port;
    this.#log = deps.log.child({ component: 'udp-listener', address: options.address, port: options.port, role: options.role });
  }

  get localAddress(): string {
    return this.#localAddress;
  }

  get localPort(): number {
    return this.#localPort;
  }

  /** Binds the socket; rejects with ATN_ERR_LISTEN_BIND. */
  async listen(): Promise<void> {
    if (this.#state !== 'new') throw new AnyturnError('ATN_ERR_INVALID_STATE', 'listen() called twice');
    this.#state = 'binding';
    const o = this.#options;
    let socket: UdpSocket;
    try {
      socket = await this.#server.udpIo.bind(
        { family: familyOf(o.address), address: o.address, port: o.port, receiveBufferSize: o.receiveBufferSize, sendBufferSize: o.sendBufferSize },
        { message: this.#onMessage, sendError: this.#onSendError },
      );
    } catch (err) {
      this.#state = 'closed';
      throw new AnyturnError('ATN_ERR_LISTEN_BIND', `cannot bind UDP ${o.address}:${o.port}`, { cause: err });
    }
    if (this.#state !== 'binding') {
      socket.close(); // closed while binding
      return;
    }
    this.#socket = socket;
    this.#state = 'listening';
    this.#localAddress = socket.localAddress;
    this.#localPort = socket.localPort;
    this.#log.info({ localPort: socket.localPort, io: this.#server.udpIo.kind }, 'UDP listener ready');
  }

  send(data: Buffer, clientAddress: string, clientPort: number): void {
    if (this.#socket === undefined || this.#state !== 'listening') return;
    if (!this.#socket.send(data, clientPort, clientAddress)) this.#dataPath.sendFailed();
  }

  sendParts(parts: readonly Buffer[], clientAddress: string, clientPort: number): boolean {
    if (this.#socket === undefined || this.#state !== 'listening') return false;
    return this.#socket.sendParts(parts, clientPort, clientAddress);
  }

  /** Idempotent. */
  close(): Promise<void> {
    this.#state = 'closed';
    this.#socket?.close();
    this.#socket = undefined;
    return Promise.resolve();
  }

  readonly #onMessage = (msg: Buffer, address: string, port: number): void => {
    // The fast path is for unicast listeners: on an anycast listener ChannelData goes to the responder
    // (through handlePacket), which counts and drops it.
    if (this.role === 'unicast' && isChannelData(msg)) this.#dataPath.fromClient(this, msg, address, port);
    else this.#server.handlePacket(this, Buffer.from(msg), address, port);
  };

  /** A send the kernel refused after the call (ENOBUFS, EPERM...): counted, not logged per datagram. */
  readonly #onSendError = (err: Error): void => {
    this.#dataPath.sendFailed();
    this.#log.debug({ err }, 'UDP send failed');
  };
}
