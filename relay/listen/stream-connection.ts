/**
 * One accepted TCP or TLS client connection. It is the ClientTransport the TURN core answers through (one
 * per connection, so the core's 5-tuple key is the connection itself), frames the byte stream into messages
 * (framing.ts) and hands each to the sink, and tells the sink when the connection ends (its allocation ends
 * with it, RFC 8656 §3.1 / §7).
 *
 * Sends: ChannelData is padded to a multiple of 4 (RFC 8656 §12.5); the parts of one message are written
 * corked (one writev). A client that does not read gets at most `maxQueuedBytes` (+ one message) queued; past
 * that, messages to it are dropped and counted (as UDP would lose them), so a slow reader cannot grow the
 * relay's memory.
 *
 * Deadlines (stream-guard.ts checks them for every connection): the first complete message within the request
 * timeout of accept, and each message within it of its first byte ('timeout'); progress is a complete message, so
 * a byte now and then keeps nothing alive. A connection that has no allocation and completes no message for the
 * idle timeout is closed ('idle'); one with an allocation stays (the allocation's lifetime governs it, and is
 * checked again at the next idle period). The partial message's bytes come from the guard's shared budget
 * ('overload' when it is spent).
 */
import type { Socket } from 'node:net';
import type { Logger } from '../../src/log.js';
import type { RelayMetrics } from '../metrics.js';
import type { ClientTransport, ListenerRole } from '../turn/client-transport.js';
import { StreamFramer } from './framing.js';
import type { GuardedConnection, StreamGuard } from './stream-guard.js';
import type { StreamCloseReason, StreamMetrics, StreamProtocol } from './stream-metrics.js';

/** What a stream listener feeds: the TURN core (TurnServer satisfies it). */
export interface StreamSink {
  handlePacket(transport: ClientTransport, packet: Buffer, clientAddress: string, clientPort: number): void;
  connectionClosed(transport: ClientTransport, clientAddress: string, clientPort: number): void;
  findAllocation(transport: ClientTransport, clientAddress: string, clientPort: number): object | undefined;
}

export interface StreamConnectionOptions {
  role: ListenerRole;
  /** Most bytes queued for a client that does not read; further messages to it are dropped. */
  maxQueuedBytes: number;
  /** Deadlines (request and idle timeouts) and the shared buffer budget. */
  guard: StreamGuard;
}

export interface StreamConnectionDeps {
  sink: StreamSink;
  log: Logger;
  metrics: RelayMetrics;
  streamMetrics: StreamMetrics;
  /** Called once when the connection has closed (the listener forgets it). */
  onClosed: (connection: StreamConnection) => void;
}

/** Zero padding for ChannelData (never written to). */
const PADDING = [Buffer.alloc(0), Buffer.alloc(3), Buffer.alloc(2), Buffer.alloc(1)];

export class StreamConnection implements ClientTransport, GuardedConnection {
  readonly protocol: StreamProtocol;
  readonly role: ListenerRole;
  readonly localAddress: string;
  readonly localPort: number;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly #socket: Socket;
  readonly #framer: StreamFramer;
  readonly #deps: StreamConnectionDeps;
  readonly #maxQueued: number;
  readonly #guard: StreamGuard;
  readonly #acceptedAt: number;
  /** When the last complete message arrived (undefined: none yet). */
  #lastMessageAt: number | undefined;
  /** When the first byte of the message now being received arrived (undefined: between messages). */
  #messageStartedAt: number | undefined;
  #delivered = false;
  #closeReason: StreamCloseReason | undefined;
  #closed = false;

  constructor(protocol: StreamProtocol, socket: Socket, options: StreamConnectionOptions, deps: StreamConnectionDeps) {
    this.protocol = protocol;
    this.role = options.role;
    this.#socket = socket;
    this.#deps = deps;
    this.#maxQueued = options.maxQueuedBytes;
    this.#guard = options.guard;
    this.#acceptedAt = options.guard.now();
    this.localAddress = stripMapped(socket.localAddress ?? '');
    this.localPort = socket.localPort ?? 0;
    this.clientAddress = stripMapped(socket.remoteAddress ?? '');
    this.clientPort = socket.remotePort ?? 0;
    this.#framer = new StreamFramer(this.#onMessage, options.guard);
    deps.streamMetrics.accepted(protocol);
    socket.setNoDelay(true);
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    options.guard.watch(this);
    if (this.clientAddress === '' || socket.destroyed) this.close('error');
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(data: Buffer, _clientAddress: string, _clientPort: number): void {
    const socket = this.#socket;
    if (this.#closeReason !== undefined || socket.destroyed) return;
    if (socket.writableLength > this.#maxQueued) {
      this.#overflow();
      return;
    }
    const pad = (data[0] & 0xc0) === 0x40 ? PADDING[data.length & 3] : PADDING[0];
    if (pad.length === 0) {
      socket.write(data);
      return;
    }
    socket.cork();
    socket.write(data);
    socket.write(pad);
    socket.uncork();
  }

  sendParts(parts: readonly Buffer[], _clientAddress: string, _clientPort: number): void {
    const socket = this.#socket;
    if (this.#closeReason !== undefined || socket.destroyed) return;
    if (socket.writableLength > this.#maxQueued) {
      this.#overflow();
      return;
    }
    let total = 0;
    socket.cork();
    for (const part of parts) {
      if (part.length === 0) continue;
      total += part.length;
      socket.write(part);
    }
    if (parts.length > 0 && (parts[0][0] & 0xc0) === 0x40 && (total & 3) !== 0) socket.write(PADDING[total & 3]);
    socket.uncork();
  }

  /** Idempotent: ends the connection (destroy: nothing more is read or sent). */
  close(reason: StreamCloseReason): void {
    if (this.#closeReason !== undefined) return;
    this.#closeReason = reason;
    this.#framer.reset();
    this.#socket.destroy();
  }

  /** Called by the guard's sweep: closes the connection when a deadline has passed. */
  checkDeadlines(nowMs: number): void {
    if (this.#closeReason !== undefined) return;
    const { requestTimeoutMs, idleTimeoutMs } = this.#guard.options;
    const started = this.#messageStartedAt;
    if (started !== undefined && nowMs - started >= requestTimeoutMs) {
      this.close('timeout');
      return;
    }
    const last = this.#lastMessageAt;
    if (last === undefined && nowMs - this.#acceptedAt >= requestTimeoutMs) {
      this.close('timeout');
      return;
    }
    if (nowMs - (last ?? this.#acceptedAt) >= idleTimeoutMs) {
      if (this.#deps.sink.findAllocation(this, this.clientAddress, this.clientPort) !== undefined) {
        this.#lastMessageAt = nowMs; // checked again one idle period later
        return;
      }
      this.close('idle');
    }
  }

  readonly #onMessage = (message: Buffer): void => {
    this.#delivered = true;
    this.#deps.sink.handlePacket(this, message, this.clientAddress, this.clientPort);
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#closeReason !== undefined) return;
    this.#delivered = false;
    const result = this.#framer.push(chunk);
    if (result !== 'ok') {
      if (result === 'garbage') this.#deps.metrics.drop('malformed');
      this.close(result);
      return;
    }
    const now = this.#guard.now();
    if (this.#delivered) this.#lastMessageAt = now;
    if (!this.#framer.inMessage) this.#messageStartedAt = undefined;
    else if (this.#delivered || this.#messageStartedAt === undefined) this.#messageStartedAt = now;
  };

  readonly #onError = (err: Error): void => {
    if (this.#closeReason === undefined) this.#closeReason = 'error';
    this.#deps.log.debug({ err, client: this.clientAddress, port: this.clientPort }, 'stream connection error');
  };

  readonly #onClose = (): void => {
    if (this.#closed) return;
    this.#closed = true;
    this.#framer.reset();
    this.#guard.unwatch(this);
    const reason = this.#closeReason ?? 'client';
    this.#closeReason = reason;
    this.#deps.streamMetrics.closed(this.protocol, reason);
    this.#deps.sink.connectionClosed(this, this.clientAddress, this.clientPort);
    this.#deps.onClosed(this);
  };

  #overflow(): void {
    this.#deps.metrics.drop('send-failed');
  }
}

/** `::ffff:a.b.c.d` -> `a.b.c.d` (a dual-stack socket's view of an IPv4 peer). */
function stripMapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
