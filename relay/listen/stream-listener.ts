/**
 * What the TCP and TLS listeners share: binding a net/tls server to address:port (ATN_ERR_LISTEN_BIND naming
 * the address on failure), accepting connections up to a limit, one StreamConnection per client, and a close
 * that ends every connection (and so, through the sink, every stream allocation).
 */
import type { Server, Socket } from 'node:net';
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { RelayMetrics } from '../metrics.js';
import type { ListenerRole } from '../turn/client-transport.js';
import { familyOf } from '../turn/five-tuple.js';
import { StreamConnection, type StreamSink } from './stream-connection.js';
import type { StreamMetrics, StreamProtocol } from './stream-metrics.js';

export interface StreamListenerOptions {
  /** IP address to bind (an anycast address for role 'anycast'). */
  address: string;
  /** Port to bind; 0 picks a free one (see localPort after listen()). */
  port: number;
  role: ListenerRole;
  /** A connection without an allocation is closed after this long without input. Default 30 s. */
  idleTimeoutMs?: number;
  /** Per-connection bound of bytes queued for a client that does not read. Default 1 MiB. */
  maxQueuedBytes?: number;
  /** Most open connections; more are refused (closed at once) and counted. Default 20000. */
  maxConnections?: number;
}

export interface StreamListenerDeps {
  sink: StreamSink;
  log: Logger;
  metrics: RelayMetrics;
  streamMetrics: StreamMetrics;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_QUEUED_BYTES = 1 << 20;
export const DEFAULT_MAX_CONNECTIONS = 20_000;

export abstract class StreamListener {
  readonly protocol: StreamProtocol;
  readonly role: ListenerRole;
  protected readonly log: Logger;
  protected readonly deps: StreamListenerDeps;
  readonly #options: StreamListenerOptions;
  readonly #connections = new Set<StreamConnection>();
  #server: Server | undefined;
  #localAddress: string;
  #localPort: number;
  #state: 'new' | 'listening' | 'closed' = 'new';

  protected constructor(protocol: StreamProtocol, options: StreamListenerOptions, deps: StreamListenerDeps) {
    this.protocol = protocol;
    this.role = options.role;
    this.#options = options;
    this.deps = deps;
    this.#localAddress = options.address;
    this.#localPort = options.port;
    this.log = deps.log.child({ component: `${protocol}-listener`, address: options.address, port: options.port, role: options.role });
  }

  /** Makes the server; `onSocket` is called with each client socket ready for application data. */
  protected abstract createServer(onSocket: (socket: Socket) => void): Server;

  get localAddress(): string {
    return this.#localAddress;
  }

  get localPort(): number {
    return this.#localPort;
  }

  /** Open client connections. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  get listening(): boolean {
    return this.#state === 'listening';
  }

  /** Binds; rejects with ATN_ERR_LISTEN_BIND naming the address. */
  listen(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new AnyturnError('ATN_ERR_INVALID_STATE', 'listen() called twice'));
    const { address, port } = this.#options;
    const server = this.createServer(this.#onSocket);
    // Counts raw connections, so TLS handshakes in progress are bounded too; the kernel-level drop is counted.
    server.maxConnections = this.#options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    server.on('drop', () => this.deps.streamMetrics.refused());
    this.#server = server;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.#state = 'closed';
        server.close();
        const where = `${this.protocol.toUpperCase()} ${hostPort(address, port)}`;
        reject(new AnyturnError('ATN_ERR_LISTEN_BIND', `cannot bind ${where}: ${err.code ?? err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen({ host: address, port, ipv6Only: familyOf(address) === 6, exclusive: true, backlog: 1024 }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.log.warn({ err }, 'listener error'));
        this.#state = 'listening';
        const bound = server.address();
        if (bound !== null && typeof bound === 'object') {
          this.#localAddress = bound.address;
          this.#localPort = bound.port;
        }
        this.log.info({ localPort: this.#localPort }, `${this.protocol.toUpperCase()} listener ready`);
        resolve();
      });
    });
  }

  /** Idempotent: stops accepting and closes every connection ('shutdown'). */
  close(): Promise<void> {
    if (this.#state === 'closed' && this.#server === undefined) return Promise.resolve();
    this.#state = 'closed';
    const server = this.#server;
    this.#server = undefined;
    for (const connection of [...this.#connections]) connection.close('shutdown');
    if (server === undefined || !server.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  readonly #onSocket = (socket: Socket): void => {
    if (this.#state !== 'listening') {
      socket.destroy();
      return;
    }
    const connection = new StreamConnection(
      this.protocol,
      socket,
      {
        role: this.role,
        idleTimeoutMs: this.#options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        maxQueuedBytes: this.#options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
      },
      {
        sink: this.deps.sink,
        log: this.log,
        metrics: this.deps.metrics,
        streamMetrics: this.deps.streamMetrics,
        onClosed: (c) => this.#connections.delete(c),
      },
    );
    this.#connections.add(connection);
  };
}

export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
