/**
 * Connection-level metrics of the stream listeners (TCP, TLS). Per-message counters stay in RelayMetrics; these
 * count connections, which happen far less often. Plain number fields read at scrape time (as in
 * relay/metrics.ts), labels from fixed sets only.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { STREAM_REFUSALS, type StreamRefusal } from './stream-guard.js';

export const STREAM_PROTOCOLS = ['tcp', 'tls'] as const;
export type StreamProtocol = (typeof STREAM_PROTOCOLS)[number];

/** Why a stream connection ended (label values). */
export const STREAM_CLOSE_REASONS = [
  /** The client closed or reset it. */
  'client',
  /** Bytes that frame as neither STUN nor ChannelData. */
  'garbage',
  /** No allocation and no complete message for the idle timeout. */
  'idle',
  /** No complete first message, or a message not completed, within the request timeout (slow or dripping). */
  'timeout',
  /** The next bytes of a partial message did not fit the relay's buffer budget. */
  'overload',
  /** A socket error. */
  'error',
  /** The relay is stopping. */
  'shutdown',
] as const;
export type StreamCloseReason = (typeof STREAM_CLOSE_REASONS)[number];

const PROTOCOL_INDEX: Readonly<Record<StreamProtocol, number>> = { tcp: 0, tls: 1 };
const REASON_INDEX: ReadonlyMap<string, number> = new Map(STREAM_CLOSE_REASONS.map((r, i) => [r, i]));

export class StreamMetrics {
  readonly #accepted = new Float64Array(STREAM_PROTOCOLS.length);
  readonly #open = new Float64Array(STREAM_PROTOCOLS.length);
  readonly #closed = new Float64Array(STREAM_PROTOCOLS.length * STREAM_CLOSE_REASONS.length);
  #tlsHandshakeFailures = 0;
  readonly #refused = new Float64Array(STREAM_REFUSALS.length);

  /** `bufferedBytes`: what the framers hold now (the StreamGuard's count), read at scrape time. */
  constructor(registry: Registry, bufferedBytes: () => number = () => 0) {
    const registers = [registry];
    const self = this;
    new Counter({
      name: 'turn_stream_connections_accepted_total',
      help: 'TCP/TLS client connections accepted (TLS: after the handshake)',
      labelNames: ['protocol'],
      registers,
      collect() {
        this.reset();
        STREAM_PROTOCOLS.forEach((p, i) => this.inc({ protocol: p }, self.#accepted[i]));
      },
    });
    new Gauge({
      name: 'turn_stream_connections',
      help: 'Open TCP/TLS client connections',
      labelNames: ['protocol'],
      registers,
      collect() {
        STREAM_PROTOCOLS.forEach((p, i) => this.set({ protocol: p }, self.#open[i]));
      },
    });
    new Counter({
      name: 'turn_stream_connections_closed_total',
      help: 'TCP/TLS client connections closed, by reason',
      labelNames: ['protocol', 'reason'],
      registers,
      collect() {
        this.reset();
        STREAM_PROTOCOLS.forEach((p, i) =>
          STREAM_CLOSE_REASONS.forEach((r, j) =>
            this.inc({ protocol: p, reason: r }, self.#closed[i * STREAM_CLOSE_REASONS.length + j]),
          ),
        );
      },
    });
    new Counter({
      name: 'turn_tls_handshake_failures_total',
      help: 'TLS handshakes that failed or timed out',
      registers,
      collect() {
        this.reset();
        this.inc(self.#tlsHandshakeFailures);
      },
    });
    new Counter({
      name: 'turn_stream_connections_refused_total',
      help: 'TCP/TLS connections refused at accept: the relay-wide connection limit (total) or the per-source one',
      labelNames: ['limit'],
      registers,
      collect() {
        this.reset();
        STREAM_REFUSALS.forEach((r, i) => this.inc({ limit: r }, self.#refused[i]));
      },
    });
    new Gauge({
      name: 'turn_stream_buffered_bytes',
      help: 'Bytes of partial messages the TCP/TLS connections hold',
      registers,
      collect() {
        this.set(bufferedBytes());
      },
    });
  }

  accepted(protocol: StreamProtocol): void {
    this.#accepted[PROTOCOL_INDEX[protocol]] += 1;
    this.#open[PROTOCOL_INDEX[protocol]] += 1;
  }

  closed(protocol: StreamProtocol, reason: StreamCloseReason): void {
    this.#open[PROTOCOL_INDEX[protocol]] -= 1;
    this.#closed[PROTOCOL_INDEX[protocol] * STREAM_CLOSE_REASONS.length + REASON_INDEX.get(reason)!] += 1;
  }

  tlsHandshakeFailed(): void {
    this.#tlsHandshakeFailures += 1;
  }

  refused(limit: StreamRefusal): void {
    this.#refused[STREAM_REFUSALS.indexOf(limit)] += 1;
  }

  /** Connections closed so far (tests, status). */
  closedCount(protocol: StreamProtocol, reason: StreamCloseReason): number {
    return this.#closed[PROTOCOL_INDEX[protocol] * STREAM_CLOSE_REASONS.length + REASON_INDEX.get(reason)!];
  }

  refusedCount(limit?: StreamRefusal): number {
    return limit === undefined ? this.#refused.reduce((a, b) => a + b, 0) : this.#refused[STREAM_REFUSALS.indexOf(limit)];
  }

  get tlsHandshakeFailures(): number {
    return this.#tlsHandshakeFailures;
  }

  open(protocol: StreamProtocol): number {
    return this.#open[PROTOCOL_INDEX[protocol]];
  }
}
