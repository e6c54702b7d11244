/**
 * The limits every stream (TCP, TLS) connection of the relay shares, so that connections that send little or
 * nothing cannot exhaust the process (issue 11: 20,000 dripping connections from 4 sources took a relay down):
 *
 *  - admission: at most `maxConnections` raw connections in all (TLS handshakes included), below the process's
 *    file-descriptor limit so that relayed UDP sockets, /healthz and the cluster store keep theirs (fd-limit.ts);
 *    at most `maxPerSource` from one source (an IPv4 address, or an IPv6 /64: one host usually holds a whole /64).
 *    A refused connection is closed at once and counted;
 *  - buffered bytes: what the framers hold between chunks (partial messages) counts against `maxBufferedBytes`
 *    in all; a connection whose next partial message does not fit is closed ('overload');
 *  - deadlines, checked by one sweep for all connections: a connection must deliver its first complete message
 *    within `requestTimeoutMs` of being accepted, and every message within `requestTimeoutMs` of its first byte
 *    (progress is a complete message, not any byte: one byte every few seconds does not keep a connection);
 *    without an allocation, a connection with no complete message for `idleTimeoutMs` is closed ('idle').
 */
import { isIP } from 'node:net';

export interface StreamGuardOptions {
  /** Raw connections in all (every stream listener of the relay). */
  maxConnections: number;
  /** Connections from one source address (IPv6: one /64). */
  maxPerSource: number;
  /** Bytes held by all framers together (partial messages). */
  maxBufferedBytes: number;
  /** First complete message after accept, and each message after its first byte, within this long (ms). */
  requestTimeoutMs: number;
  /** Without an allocation: closed after this long without a complete message (ms). */
  idleTimeoutMs: number;
}

export const DEFAULT_MAX_PER_SOURCE = 256;
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

/** Why a connection was not admitted (metric label values). */
export const STREAM_REFUSALS = ['total', 'per-source'] as const;
export type StreamRefusal = (typeof STREAM_REFUSALS)[number];

/** What the sweep checks on each connection. */
export interface GuardedConnection {
  checkDeadlines(nowMs: number): void;
}

export class StreamGuard {
  readonly options: Readonly<StreamGuardOptions>;
  readonly #perSource = new Map<string, number>();
  readonly #watched = new Set<GuardedConnection>();
  readonly #now: () => number;
  #connections = 0;
  #buffered = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: StreamGuardOptions, now: () => number = Date.now) {
    this.options = Object.freeze({ ...options });
    this.#now = now;
  }

  /** Raw connections admitted and not yet released. */
  get connections(): number {
    return this.#connections;
  }

  /** Bytes the framers hold now. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** Admits one raw connection from `address` (counted until release), or says which limit refuses it. */
  admit(address: string): StreamRefusal | 'ok' {
    if (this.#connections >= this.options.maxConnections) return 'total';
    const key = sourceKey(address);
    const n = this.#perSource.get(key) ?? 0;
    if (n >= this.options.maxPerSource) return 'per-source';
    this.#perSource.set(key, n + 1);
    this.#connections += 1;
    return 'ok';
  }

  release(address: string): void {
    const key = sourceKey(address);
    const n = this.#perSource.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#perSource.delete(key);
    else this.#perSource.set(key, n - 1);
    this.#connections -= 1;
  }

  /** Takes `bytes` from the shared buffer budget; false (nothing taken) when they do not fit. */
  reserve(bytes: number): boolean {
    if (this.#buffered + bytes > this.options.maxBufferedBytes) return false;
    this.#buffered += bytes;
    return true;
  }

  /** Gives back what reserve() took. */
  unreserve(bytes: number): void {
    this.#buffered = Math.max(0, this.#buffered - bytes);
  }

  now(): number {
    return this.#now();
  }

  /** Starts checking `connection`'s deadlines (the sweep runs while any connection is watched). */
  watch(connection: GuardedConnection): void {
    this.#watched.add(connection);
    if (this.#timer === undefined) {
      const o = this.options;
      const interval = Math.min(1000, Math.max(25, Math.floor(Math.min(o.requestTimeoutMs, o.idleTimeoutMs) / 4)));
      this.#timer = setInterval(this.#sweep, interval);
      this.#timer.unref();
    }
  }

  unwatch(connection: GuardedConnection): void {
    this.#watched.delete(connection);
    if (this.#watched.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  readonly #sweep = (): void => {
    const now = this.#now();
    for (const c of [...this.#watched]) c.checkDeadlines(now);
  };
}

/** The source a per-source limit counts: the IPv4 address (IPv4-mapped included), or the IPv6 /64. */
export function sourceKey(address: string): string {
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (isIP(address) !== 6) return address;
  const [head, tail] = address.split('::');
  const a = head === '' ? [] : head.split(':');
  const b = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? a : [...a, ...Array<string>(Math.max(0, 8 - a.length - b.length)).fill('0'), ...b];
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
