/**
 * UDP through the native engine (relay/datagram/native/datagram-addon.c): a bound socket is a bare fd in one epoll
 * set, with no libuv handle or EventEmitter of its own; readable sockets are drained with recvmmsg and a whole
 * batch (up to 64 datagrams, all sockets together) reaches JavaScript in one call. Sends are one sendmsg each,
 * at once: a datagram the kernel cannot take now is reported (false) and dropped, never queued.
 *
 * The engine runs while at least one socket is open (like a bound dgram socket, it keeps the process alive).
 */
import { constants } from 'node:os';
import { join } from 'node:path';
import { addonPath, loadAddon } from '../native-addon.js';
import type { DatagramHandler, UdpBindOptions, UdpIo, UdpSocket, UdpSocketEvents } from './udp-socket.js';

export interface DatagramAddon {
  open(family: 4 | 6, address: string, port: number, receiveBuffer: number, sendBuffer: number): number;
  localPort(fd: number): number;
  watch(fd: number): number;
  close(fd: number): void;
  send(fd: number, data: Buffer, address: string, port: number): number;
  sendParts(fd: number, a: Buffer, b: Buffer, c: Buffer | undefined, address: string, port: number): number;
  start(onBatch: (bytes: Buffer, addresses: string[], count: number) => void, meta: Int32Array): number;
  stop(): void;
  batchSize(): number;
}

export const DATAGRAM_ADDON_PATH = addonPath(join('relay', 'datagram', 'native'), 'anyturn_datagram');

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** An Error like Node's for a failed syscall: `code` is the errno name. */
export function errnoError(syscall: string, errno: number, detail: string): NodeJS.ErrnoException {
  const code = ERRNO_NAMES.get(errno) ?? `E${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code} ${detail}`);
  err.code = code;
  err.errno = -errno;
  err.syscall = syscall;
  return err;
}

class NativeUdpSocket implements UdpSocket {
  readonly localAddress: string;
  readonly localPort: number;
  readonly #fd: number;
  readonly #io: NativeUdpIo;
  readonly #addon: DatagramAddon;
  #closed = false;

  constructor(io: NativeUdpIo, addon: DatagramAddon, fd: number, address: string, port: number) {
    this.#io = io;
    this.#addon = addon;
    this.#fd = fd;
    this.localAddress = address;
    this.localPort = port;
  }

  send(data: Buffer, port: number, address: string): boolean {
    return !this.#closed && this.#addon.send(this.#fd, data, address, port) === 0;
  }

  sendParts(parts: readonly Buffer[], port: number, address: string): boolean {
    if (this.#closed) return false;
    if (parts.length === 1) return this.#addon.send(this.#fd, parts[0], address, port) === 0;
    return this.#addon.sendParts(this.#fd, parts[0], parts[1], parts[2], address, port) === 0;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#io.release(this.#fd);
  }
}

export class NativeUdpIo implements UdpIo {
  readonly kind = 'native' as const;
  readonly #addon: DatagramAddon;
  /** Message handler by fd (fds are small dense integers). */
  readonly #handlers: (DatagramHandler | undefined)[] = [];
  readonly #meta: Int32Array;
  #open = 0;
  /**
   * A handler threw: reported here (a process warning until the relay names its logger, udp-io.ts); the rest of
   * the batch is still delivered.
   */
  onHandlerError: (err: unknown) => void = (err) => process.emitWarning(`anyturn: a datagram handler threw: ${String(err)}`);

  constructor(addon: DatagramAddon) {
    this.#addon = addon;
    this.#meta = new Int32Array(4 * addon.batchSize());
  }

  /** Sockets open now. */
  get openSockets(): number {
    return this.#open;
  }

  bind(options: UdpBindOptions, events: UdpSocketEvents): Promise<UdpSocket> {
    const addon = this.#addon;
    const fd = addon.open(options.family, options.address, options.port, options.receiveBufferSize ?? 0, options.sendBufferSize ?? 0);
    if (fd < 0) return Promise.reject(errnoError('bind', -fd, `${options.address}:${options.port}`));
    const port = options.port !== 0 ? options.port : addon.localPort(fd);
    if (this.#open === 0) {
      const failed = addon.start(this.#onBatch, this.#meta);
      if (failed !== 0) {
        addon.close(fd);
        return Promise.reject(errnoError('epoll', failed, 'starting the datagram engine'));
      }
    }
    this.#open += 1;
    this.#handlers[fd] = events.message;
    const watched = addon.watch(fd);
    if (watched !== 0) {
      this.release(fd);
      return Promise.reject(errnoError('epoll_ctl', watched, `${options.address}:${options.port}`));
    }
    return Promise.resolve(new NativeUdpSocket(this, addon, fd, options.address, port));
  }

  /** Closes `fd` (it leaves the epoll set with it); the engine stops after the last socket. */
  release(fd: number): void {
    this.#handlers[fd] = undefined;
    this.#addon.close(fd);
    this.#open -= 1;
    if (this.#open === 0) this.#addon.stop();
  }

  readonly #onBatch = (bytes: Buffer, addresses: string[], count: number): void => {
    const meta = this.#meta;
    const handlers = this.#handlers;
    for (let i = 0, m = 0; i < count; i++, m += 4) {
      const handler = handlers[meta[m]];
      if (handler === undefined) continue; // closed earlier in this batch
      const offset = meta[m + 1];
      try {
        handler(bytes.subarray(offset, offset + meta[m + 2]), addresses[i], meta[m + 3]);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  };
}

let shared: NativeUdpIo | string | undefined;

/** The process's native engine (one epoll set for every socket), or why it is not available. */
export function nativeUdpIo(): NativeUdpIo | string {
  if (shared !== undefined) return shared;
  if (process.platform !== 'linux') {
    shared = 'the native datagram engine needs Linux (epoll, recvmmsg)';
    return shared;
  }
  const addon = loadAddon<DatagramAddon>(DATAGRAM_ADDON_PATH, 'datagram');
  shared = typeof addon === 'string' ? addon : new NativeUdpIo(addon);
  return shared;
}
