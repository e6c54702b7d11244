/**
 * Connection-level metrics of the stream listeners (TCP, TLS). Per-message counters stay in RelayMetrics; these
 * count connections, which happen far less often. Plain number fields read at scrape time (as in
 * relay/metrics.ts), labels from fixed sets only.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export const STREAM_PROTOCOLS = ['tcp', 'tls'] as const;
export type StreamProtocol = (typeof STREAM_PROTOCOLS)[number];

/** Why a stream connection ended (label values). */
export const STREAM_CLOSE_REASONS = [
  /** The client closed or reset it. */
  'client',
  /** Bytes that frame as neither STUN nor ChannelData. */
  'garbage',
  /** No allocation and no traffic for the idle timeout. */
  'idle',
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
  #refused = 0;

  constructor(registry: Registry) {
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
      help: 'TCP/TLS connections refused because the listener is at its connection limit',
      registers,
      collect() {
        this.reset();
        this.inc(self.#refused);
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

  refused(): void {
    this.#refused += 1;
  }

  /** Connections closed so far (tests, status). */
  closedCount(protocol: StreamProtocol, reason: StreamCloseReason): number {
    return this.#closed[PROTOCOL_INDEX[protocol] * STREAM_CLOSE_REASONS.length + REASON_INDEX.get(reason)!];
  }

  get refusedCount(): number {
    return this.#refused;
  }

  get tlsHandshakeFailures(): number {
    return this.#tlsHandshakeFailures;
  }

  open(protocol: StreamProtocol): number {
    return this.#open[PROTOCOL_INDEX[protocol]];
  }
}
