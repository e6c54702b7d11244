/**
 * Prometheus metrics of the relay (prom-client), named after coturn's where coturn has one
 * (turn_total_allocations; coturn's turn_traffic_rcvp/rcvb/sentp/sentb and turn_traffic_peer_* become the
 * turn_traffic_{client,peer}_{received,sent}_{packets,bytes}_total counters below).
 *
 * Hot path: the per-packet counters are plain number fields (`clientReceivedPackets += 1`, `drop('bandwidth')`)
 * and the prom-client counters read them when scraped (`collect`). A prom-client `inc()` hashes its labels on
 * every call, which is too much work per datagram. Labels only come from the fixed sets below, never per IP.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** Why a datagram was dropped. Fixed set (metric label values). */
export const DROP_REASONS = [
  'malformed',
  'bad-fingerprint',
  'no-allocation',
  'no-permission',
  'no-channel',
  'bandwidth',
  'unexpected-message',
  'retransmit-pending',
  'send-failed',
  'internal-error',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** STUN response codes counted (label values); 'success' for success responses, 'other' for the rest. */
export const RESPONSE_CODES = [
  'success',
  '300',
  '400',
  '401',
  '403',
  '420',
  '437',
  '438',
  '440',
  '441',
  '442',
  '443',
  '446',
  '486',
  '500',
  '508',
  'other',
] as const;
export type ResponseCodeLabel = (typeof RESPONSE_CODES)[number];

/** Why an allocation ended (label values). */
export const CLOSE_REASONS = ['expired', 'deleted', 'connection-closed', 'shutdown'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** Which bound refused a new channel binding (label values). */
export const CHANNEL_LIMITS = ['allocation', 'user'] as const;
export type ChannelLimit = (typeof CHANNEL_LIMITS)[number];

const DROP_INDEX: ReadonlyMap<string, number> = new Map(DROP_REASONS.map((r, i) => [r, i]));
const CODE_INDEX: ReadonlyMap<string, number> = new Map(RESPONSE_CODES.map((c, i) => [c, i]));
const CLOSE_INDEX: ReadonlyMap<string, number> = new Map(CLOSE_REASONS.map((c, i) => [c, i]));

function codeIndex(code: number | 'success'): number {
  return CODE_INDEX.get(String(code)) ?? CODE_INDEX.get('other')!;
}

export class RelayMetrics {
  // Per-packet counters: plain numbers, read at scrape time.
  clientReceivedPackets = 0;
  clientReceivedBytes = 0;
  clientSentPackets = 0;
  clientSentBytes = 0;
  peerReceivedPackets = 0;
  peerReceivedBytes = 0;
  peerSentPackets = 0;
  /** ChannelData messages from clients that reached Node (the kernel fast path's are not among them). */
  userspaceChannelData = 0;
  peerSentBytes = 0;

  readonly #dropped = new Float64Array(DROP_REASONS.length);
  readonly #responses = new Float64Array(RESPONSE_CODES.length);
  readonly #allocateErrors = new Float64Array(RESPONSE_CODES.length);
  readonly #closed = new Float64Array(CLOSE_REASONS.length);
  readonly #channelsRefused = new Float64Array(CHANNEL_LIMITS.length);
  #unauthorized = 0;
  #allocationsCreated = 0;
  #retransmits = 0;
  #allocations = 0;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    const simple = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    const labelled = (
      name: string,
      help: string,
      label: string,
      values: readonly string[],
      counts: Float64Array,
      skip?: ReadonlySet<string>,
    ): void => {
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          values.forEach((v, i) => {
            if (!skip?.has(v)) this.inc({ [label]: v }, counts[i]);
          });
        },
      });
    };

    new Gauge({
      name: 'turn_total_allocations',
      help: 'Current number of allocations',
      registers,
      collect() {
        this.set(self.#allocations);
      },
    });
    simple('turn_allocations_created_total', 'Allocations created', () => this.#allocationsCreated);
    labelled('turn_allocations_closed_total', 'Allocations ended, by reason', 'reason', CLOSE_REASONS, this.#closed);
    simple('turn_traffic_client_received_packets_total', 'Datagrams/messages received from clients', () => this.clientReceivedPackets);
    simple('turn_traffic_client_received_bytes_total', 'Bytes received from clients', () => this.clientReceivedBytes);
    simple('turn_traffic_client_sent_packets_total', 'Datagrams/messages sent to clients', () => this.clientSentPackets);
    simple('turn_traffic_client_sent_bytes_total', 'Bytes sent to clients', () => this.clientSentBytes);
    simple('turn_traffic_peer_received_packets_total', 'Datagrams received from peers on relayed addresses', () => this.peerReceivedPackets);
    simple('turn_traffic_peer_received_bytes_total', 'Bytes received from peers', () => this.peerReceivedBytes);
    simple('turn_traffic_peer_sent_packets_total', 'Datagrams sent to peers', () => this.peerSentPackets);
    simple('turn_userspace_channel_data_total', 'ChannelData messages from clients handled by Node (not by the kernel fast path)', () => this.userspaceChannelData);
    simple('turn_traffic_peer_sent_bytes_total', 'Bytes sent to peers', () => this.peerSentBytes);
    labelled('turn_packets_dropped_total', 'Datagrams dropped, by reason', 'reason', DROP_REASONS, this.#dropped);
    simple('stun_unauthorized_total', '401 Unauthorized responses sent', () => this.#unauthorized);
    labelled('stun_responses_total', 'STUN responses sent, by code', 'code', RESPONSE_CODES, this.#responses);
    labelled(
      'turn_allocate_errors_total',
      'Allocate error responses, by code (401 and 438 challenges excluded)',
      'code',
      RESPONSE_CODES,
      this.#allocateErrors,
      new Set(['success']),
    );
    labelled(
      'turn_channel_binds_refused_total',
      'ChannelBind requests refused with 508 because the allocation or the user holds its quota of channels',
      'limit',
      CHANNEL_LIMITS,
      this.#channelsRefused,
    );
    simple('stun_retransmits_total', 'Retransmitted requests answered from the retransmit cache', () => this.#retransmits);
  }

  /** Counts one dropped datagram (hot path: one array increment). */
  drop(reason: DropReason): void {
    this.#dropped[DROP_INDEX.get(reason)!] += 1;
  }

  /** Dropped datagrams so far for `reason` (tests, status). */
  dropped(reason: DropReason): number {
    return this.#dropped[DROP_INDEX.get(reason)!];
  }

  response(code: number | 'success'): void {
    this.#responses[codeIndex(code)] += 1;
    if (code === 401) this.#unauthorized += 1;
  }

  responses(code: number | 'success'): number {
    return this.#responses[codeIndex(code)];
  }

  allocateError(code: number): void {
    if (code === 401 || code === 438) return;
    this.#allocateErrors[codeIndex(code)] += 1;
  }

  channelRefused(limit: ChannelLimit): void {
    this.#channelsRefused[CHANNEL_LIMITS.indexOf(limit)] += 1;
  }

  channelsRefused(limit: ChannelLimit): number {
    return this.#channelsRefused[CHANNEL_LIMITS.indexOf(limit)];
  }

  retransmit(): void {
    this.#retransmits += 1;
  }

  get retransmits(): number {
    return this.#retransmits;
  }

  allocationCreated(current: number): void {
    this.#allocationsCreated += 1;
    this.#allocations = current;
  }

  allocationClosed(reason: CloseReason, current: number): void {
    this.#closed[CLOSE_INDEX.get(reason)!] += 1;
    this.#allocations = current;
  }

  get allocations(): number {
    return this.#allocations;
  }
}
