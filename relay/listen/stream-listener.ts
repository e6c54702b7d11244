/**
 * What the TCP and TLS listeners share: binding a net/tls server to address:port (ATN_ERR_LISTEN_BIND naming
 * the address on failure), admitting raw connections through the relay's StreamGuard (total and per-source
 * limits, before any TLS handshake; refused ones are closed at once and counted), one StreamConnection per
 * client, and a close that ends every connection (and so, through the sink, every stream allocation).
 */
import type { Server, Socket } from 'node:net';
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { RelayMetrics } from '../metrics.js';
import type { ListenerRole } from '../turn/client-transport.js';
import { familyOf } from '../turn/five-tuple.js';
import { StreamConnection, type StreamSink } from './stream-connection.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_PER_SOURCE, DEFAULT_REQUEST_TIMEOUT_MS, StreamGuard,
} from './stream-guard.js';
import type { StreamMetrics, StreamProtocol } from './stream-metrics.js';

export interface StreamListenerOptions {
  /** IP address to bind (an anycast address for role 'anycast'). */
  address: string;
  /** Port to bind; 0 picks a free one (see localPort after listen()). */
  port: number;
  role: ListenerRole;
  /** Per-connection bound of bytes queued for a client that does not read. Default 1 MiB. */
  maxQueuedBytes?: number;
  /**
   * The relay's shared limits and deadlines (one for every stream listener of the daemon). Absent: a guard of
   * this listener's own with `maxConnections`, `idleTimeoutMs` and the defaults of stream-guard.ts.
   */
  guard?: StreamGuard;
  /** Without `guard`: most open connections (default 20000). */
  maxConnections?: number;
  /** Without `guard`: idle timeout of a connection without an allocation (default 30 s). */
  idleTimeoutMs?: number;
}

export interface StreamListenerDeps {
  sink: StreamSink;
  log: Logger;
  metrics: RelayMetrics;
  streamMetrics: StreamMetrics;
}

export const DEFAULT_MAX_QUEUED_BYTES = 1 << 20;
export const DEFAULT_MAX_CONNECTIONS = 20_000;

export abstract class StreamListener {
  readonly protocol: StreamProtocol;
  readonly role: ListenerRole;
  protected readonly log: Logger;
  protected readonly deps: StreamListenerDeps;
  readonly #options: StreamListenerOptions;
  readonly #guard: StreamGuard;
  readonly #connections = new Set<StreamConnection>();
  #server: Server | undefined;
  #localAddress: string;
  #localPort: number;
  #state: 'new' | 'listening' | 'closed' = 'new';

  protected constructor(protocol: StreamProtocol, options: StreamListenerOptions, deps: StreamListenerDeps) {
    this.protocol = protocol;
    this.role = options.role;
    this.#options = options;
    this.#guard = options.guard ?? new StreamGuard({
      maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
      maxPerSource: DEFAULT_MAX_PER_SOURCE,
      maxBufferedBytes: DEFAULT_MAX_BUFFERED_BYTES,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    });
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
    // Raw connections, before the TCP listener's onSocket and before any TLS handshake: TLS handshakes in
    // progress count too. Node's own bound (maxConnections) backs it up.
    server.prependListener('connection', this.#admit);
    server.maxConnections = this.#guard.options.maxConnections;
    server.on('drop', () => this.deps.streamMetrics.refused('total'));
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

  /** Every raw connection: admitted by the guard (released when it closes) or closed at once and counted. */
  readonly #admit = (socket: Socket): void => {
    const address = socket.remoteAddress ?? '';
    const admitted = this.#guard.admit(address);
    if (admitted !== 'ok') {
      this.deps.streamMetrics.refused(admitted);
      socket.destroy();
      return;
    }
    socket.once('close', () => this.#guard.release(address));
  };

  readonly #onSocket = (socket: Socket): void => {
    if (this.#state !== 'listening' || socket.destroyed) {
      socket.destroy();
      return;
    }
    const connection = new StreamConnection(
      this.protocol,
      socket,
      {
        role: this.role,
        maxQueuedBytes: this.#options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES,
        guard: this.#guard,
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
