import { RELAY_DEFAULTS, TURN_LIFETIMES } from '../../src/config/defaults.js';
import type { ExternalAddress } from './address-map.js';
import type { EgressEntry, Uplink } from './egress.js';

/**
 * Options of the TURN core. Plain typed values: the daemon maps its validated config into this object once;
 * nothing here is validated again.
 */
export interface TurnOptions {
  /** REALM of the long-term credential mechanism (RFC 8489 §9.2). */
  readonly realm: string;
  /** SOFTWARE attribute in every response; '' leaves it out. */
  readonly software: string;
  /** IP addresses relayed sockets are bound to (IPv4 and/or IPv6). Several of a family are used in turn. */
  readonly relayAddresses: readonly string[];
  /**
   * 1:1 NAT (`external-ip`): XOR-RELAYED-ADDRESS carries `public` for sockets bound on `private`, and peers given
   * as one of these public addresses are reached on the private one (relay/turn/address-map.ts). Default none.
   */
  readonly externalAddresses?: readonly ExternalAddress[];
  /** Per-tenant egress (turn/egress.ts): which relay address a tenant's allocations get. Default none. */
  readonly egress?: readonly EgressEntry[];
  /** This host's uplinks by name (for the cluster-wide egress table). Default none. */
  readonly uplinks?: readonly Uplink[];
  /** Relayed ports are taken from [minPort, maxPort]. */
  readonly minPort: number;
  readonly maxPort: number;
  /** Total allocations this relay accepts; past it, Allocate gets 508. */
  readonly capacity: number;
  /** Allocations per username; 0 = unlimited. Past it, Allocate gets 486. */
  readonly userQuota: number;
  /** Per-allocation relayed bandwidth (both directions together), bytes/s; 0 = no cap. */
  readonly maxBytesPerSecond: number;
  /** Upper bound of an allocation lifetime (RFC 8656 §7.2: at least the default, typically 3600). */
  readonly maxLifetimeSeconds: number;
  /** Lifetime given when the client asks for none or for less (600, RFC 8656 §3.2). */
  readonly defaultLifetimeSeconds: number;
  /** Permission lifetime (300, RFC 8656 §9). */
  readonly permissionLifetimeSeconds: number;
  /** Channel binding lifetime (600, RFC 8656 §12). */
  readonly channelLifetimeSeconds: number;
  /** CIDRs allowed as peers although the default peer policy refuses them (e.g. a private media network). */
  readonly allowPeers: readonly string[];
  /** CIDRs refused as peers in addition to the defaults; they win over allowPeers. */
  readonly denyPeers: readonly string[];
  /** How often lifetimes are swept (ms). Default 1000. */
  readonly sweepIntervalMs?: number;
  /** Retransmit cache bound (entries). Default 20000. */
  readonly retransmitCacheSize?: number;
  /** How long a response is kept for retransmits (ms). Default 40000 (RFC 8489 §6.2.1 Rc*RTO ~ 39.5 s). */
  readonly retransmitCacheMs?: number;
  /** How long a port reserved by EVEN-PORT R=1 stays reserved (s). Default 30 (RFC 8656 §7.2). */
  readonly reservationLifetimeSeconds?: number;
  /**
   * Peer IPs one allocation may hold permissions for (ICE needs a handful). Beyond it CreatePermission and
   * ChannelBind get 508, so one client cannot grow the relay's memory without bound. Default 1000.
   */
  readonly maxPermissionsPerAllocation?: number;
  /**
   * Channel bindings one allocation may hold (`--channel-quota`). Beyond it ChannelBind gets 508 (RFC 8656 §11.2:
   * a capacity limit). Default 1000.
   */
  readonly maxChannelsPerAllocation?: number;
  /** Channel bindings one username may hold over all its allocations (`--user-channel-quota`); 0 = unlimited. */
  readonly userChannelQuota?: number;
}

/** The usual values, for tests and as the documented defaults. */
export const DEFAULT_TURN_OPTIONS: TurnOptions = Object.freeze({
  realm: RELAY_DEFAULTS.realm,
  software: RELAY_DEFAULTS.software,
  relayAddresses: ['127.0.0.1'],
  minPort: RELAY_DEFAULTS.minPort,
  maxPort: RELAY_DEFAULTS.maxPort,
  capacity: RELAY_DEFAULTS.capacity,
  userQuota: RELAY_DEFAULTS.userQuota,
  maxBytesPerSecond: RELAY_DEFAULTS.maxBps,
  maxLifetimeSeconds: RELAY_DEFAULTS.lifetimeMaxSeconds,
  defaultLifetimeSeconds: TURN_LIFETIMES.allocation,
  permissionLifetimeSeconds: TURN_LIFETIMES.permission,
  channelLifetimeSeconds: TURN_LIFETIMES.channel,
  allowPeers: [],
  denyPeers: [],
  sweepIntervalMs: 1000,
  retransmitCacheSize: 20000,
  retransmitCacheMs: 40000,
  reservationLifetimeSeconds: 30,
  maxPermissionsPerAllocation: 1000,
  maxChannelsPerAllocation: 1000,
  userChannelQuota: 0,
});

/** DEFAULT_TURN_OPTIONS overridden by `partial`. */
export function turnOptions(partial: Partial<TurnOptions> = {}): TurnOptions {
  return Object.freeze({ ...DEFAULT_TURN_OPTIONS, ...partial });
}
