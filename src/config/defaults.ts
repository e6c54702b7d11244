/**
 * Default values the relay's config schema (schema.ts: what an operator gets without the key) and the TURN core
 * (relay/turn/turn-options.ts: what a TurnServer built in code gets) share: one source, so the two cannot drift.
 */

/** Settings that are also config keys (`realm`, `software`, `min-port`, `max-port`, `capacity`, ...). */
export const RELAY_DEFAULTS = Object.freeze({
  realm: 'anyturn',
  software: 'anyturn',
  minPort: 49152,
  maxPort: 65535,
  capacity: 10000,
  userQuota: 0,
  /** `max-bps`: 0 = no cap. */
  maxBps: 0,
  /** `lifetime-max`, seconds. */
  lifetimeMaxSeconds: 3600,
});

/** RFC 8656 lifetimes in seconds: an allocation's default (§3.2), a permission (§9), a channel binding (§12). */
export const TURN_LIFETIMES = Object.freeze({ allocation: 600, permission: 300, channel: 600 });
