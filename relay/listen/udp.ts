/**
 * UDP listener: one dgram socket bound to address:port (unicast or anycast role) that feeds the TURN core and
 * is the ClientTransport the core answers through.
 *
 * Per datagram: ChannelData goes straight to the data path (listen/udp.ts → turn/data-path.ts →
 * stun/channel-data.ts), everything else to TurnServer.handlePacket, which counts and drops malformed input.
 * Socket errors are logged, never fatal.
 */
import dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { isChannelData } from '../../src/stun/index.js';
import type { ClientTransport, ListenerRole } from '../turn/client-transport.js';
import type { DataPath } from '../turn/data-path.js';
import { familyOf } from '../turn/five-tuple.js';
import { literalLookup } from '../turn/relayed-socket.js';
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
  readonly #socket: dgram.Socket;
  #localAddress: string;
  #localPort: number;
  #state: 'new' | 'listening' | 'closed' = 'new';

  constructor(options: UdpListenerOptions, deps: { server: TurnServer; log: Logger }) {
    this.#options = options;
    this.role = options.role;
    this.#server = deps.server;
    this.#dataPath = deps.server.dataPath;
    this.#localAddress = options.address;
    this.#localPort = options.port;
    this.#log = deps.log.child({ component: 'udp-listener', address: options.address, port: options.port, role: options.role });
    const family = familyOf(options.address);
    this.#socket = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      ipv6Only: family === 6,
      lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
    });
    this.#socket.on('message', this.#onMessage);
  }

  get localAddress(): string {
    return this.#localAddress;
  }

  get localPort(): number {
    return this.#localPort;
  }

  /** Binds the socket; rejects with ATN_ERR_LISTEN_BIND. */
  listen(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new AnyturnError('ATN_ERR_INVALID_STATE', 'listen() called twice'));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.#state = 'closed';
        try {
          this.#socket.close();
        } catch {
          // never bound
        }
        reject(new AnyturnError('ATN_ERR_LISTEN_BIND', `cannot bind UDP ${this.#options.address}:${this.#options.port}`, { cause: err }));
      };
      this.#socket.once('error', onError);
      this.#socket.bind({ address: this.#options.address, port: this.#options.port, exclusive: true }, () => {
        this.#socket.off('error', onError);
        this.#socket.on('error', this.#onError);
        this.#state = 'listening';
        const bound = this.#socket.address();
        this.#localAddress = bound.address;
        this.#localPort = bound.port;
        try {
          if (this.#options.receiveBufferSize) this.#socket.setRecvBufferSize(this.#options.receiveBufferSize);
          if (this.#options.sendBufferSize) this.#socket.setSendBufferSize(this.#options.sendBufferSize);
        } catch (err) {
          this.#log.warn({ err }, 'cannot set socket buffer sizes');
        }
        this.#log.info({ localPort: bound.port }, 'UDP listener ready');
        resolve();
      });
    });
  }

  send(data: Buffer, clientAddress: string, clientPort: number): void {
    if (this.#state !== 'listening') return;
    this.#socket.send(data, clientPort, clientAddress);
  }

  sendParts(parts: readonly Buffer[], clientAddress: string, clientPort: number): void {
    if (this.#state !== 'listening') return;
    this.#socket.send(parts as Buffer[], clientPort, clientAddress);
  }

  /** Idempotent. */
  close(): Promise<void> {
    if (this.#state === 'closed') return Promise.resolve();
    const wasListening = this.#state === 'listening';
    this.#state = 'closed';
    if (!wasListening) {
      try {
        this.#socket.close();
      } catch {
        // never bound
      }
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  readonly #onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    // The fast path is for unicast listeners: on an anycast listener ChannelData goes to the responder
    // (through handlePacket), which counts and drops it.
    if (this.role === 'unicast' && isChannelData(msg)) this.#dataPath.fromClient(this, msg, rinfo.address, rinfo.port);
    else this.#server.handlePacket(this, msg, rinfo.address, rinfo.port);
  };

  /** A send the kernel refused (ENOBUFS, EPERM...) arrives here: counted, not logged per datagram. */
  readonly #onError = (err: NodeJS.ErrnoException): void => {
    if (err.syscall === 'send') {
      this.#dataPath.sendFailed();
      this.#log.debug({ err }, 'UDP send failed');
      return;
    }
    this.#log.warn({ err }, 'UDP listener socket error');
  };
}
