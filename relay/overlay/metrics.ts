/**
 * Prometheus metrics of the overlay (relay-to-relay over the private network). As in relay/metrics.ts, the
 * per-packet counters are plain numbers read at scrape time; labels come from fixed sets: `path` is the overlay
 * path index ("0".."3"), `reason` one of OVERLAY_DROP_REASONS.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export const MAX_PATHS = 4;
export const PATH_LABELS = ['0', '1', '2', '3'] as const;

/** Why an overlay datagram was not delivered. Fixed set (label values). */
export const OVERLAY_DROP_REASONS = [
  'malformed',
  'unknown-source',
  'unknown-key',
  'bad-mac',
  'too-old',
  'no-allocation',
  'send-failed',
] as const;
export type OverlayDropReason = (typeof OVERLAY_DROP_REASONS)[number];
const DROP_INDEX: ReadonlyMap<string, number> = new Map(OVERLAY_DROP_REASONS.map((r, i) => [r, i]));

/** Per-path numbers the metrics read (filled by the overlay node). */
export interface PathGauges {
  /** Peers whose path is up. */
  up(path: number): number;
  /** Mean smoothed RTT over peers with a sample, seconds; undefined without samples. */
  rttSeconds(path: number): number | undefined;
}

export class OverlayMetrics {
  readonly sent = new Float64Array(MAX_PATHS);
  readonly received = new Float64Array(MAX_PATHS);
  readonly expected = new Float64Array(MAX_PATHS);
  readonly arrived = new Float64Array(MAX_PATHS);
  readonly duplicates = new Float64Array(MAX_PATHS);
  delivered = 0;
  publicFallback = 0;
  readonly #dropped = new Float64Array(OVERLAY_DROP_REASONS.length);

  constructor(registry: Registry, gauges: PathGauges, keys: () => number) {
    const registers = [registry];
    const perPath = (name: string, help: string, counts: Float64Array): void => {
      new Counter({
        name, help, labelNames: ['path'], registers,
        collect() {
          this.reset();
          PATH_LABELS.forEach((p, i) => this.inc({ path: p }, counts[i]));
        },
      });
    };
    const simple = (name: string, help: string, read: () => number): void => {
      new Counter({
        name, help, registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    perPath('anyturn_overlay_sent_packets_total', 'Overlay datagrams sent (data copies and probes), by path', this.sent);
    perPath('anyturn_overlay_received_packets_total', 'Overlay datagrams received (before any check), by path', this.received);
    perPath('anyturn_overlay_expected_packets_total', 'Data packets the packet ids say should have arrived, by path', this.expected);
    perPath('anyturn_overlay_arrived_packets_total', 'Authentic data packets that arrived (duplicates included), by path', this.arrived);
    perPath('anyturn_overlay_duplicates_total', 'Data copies dropped because another path delivered the packet first (or a replay), by path', this.duplicates);
    simple('anyturn_overlay_delivered_packets_total', 'Overlay data packets delivered to a client', () => this.delivered);
    simple('anyturn_overlay_public_fallback_packets_total', 'Datagrams to another relay sent the public way because no overlay path was up', () => this.publicFallback);
    const dropped = this.#dropped;
    new Counter({
      name: 'anyturn_overlay_dropped_packets_total', help: 'Overlay datagrams dropped, by reason', labelNames: ['reason'], registers,
      collect() {
        this.reset();
        OVERLAY_DROP_REASONS.forEach((r, i) => this.inc({ reason: r }, dropped[i]));
      },
    });
    new Gauge({
      name: 'anyturn_overlay_paths_up', help: 'Other relays reachable on the path (heard within the down timeout)', labelNames: ['path'], registers,
      collect() {
        PATH_LABELS.forEach((p, i) => this.set({ path: p }, gauges.up(i)));
      },
    });
    new Gauge({
      name: 'anyturn_overlay_rtt_seconds', help: 'Smoothed RTT of the path, mean over the relays measured on it', labelNames: ['path'], registers,
      collect() {
        this.reset();
        PATH_LABELS.forEach((p, i) => {
          const rtt = gauges.rttSeconds(i);
          if (rtt !== undefined) this.set({ path: p }, rtt);
        });
      },
    });
    new Gauge({
      name: 'anyturn_overlay_keys', help: 'Overlay keys this relay holds (0: the overlay is off, everything goes the public way)', registers,
      collect() {
        this.set(keys());
      },
    });
  }

  drop(reason: OverlayDropReason): void {
    this.#dropped[DROP_INDEX.get(reason)!] += 1;
  }

  dropped(reason: OverlayDropReason): number {
    return this.#dropped[DROP_INDEX.get(reason)!];
  }
}
