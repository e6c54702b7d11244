/**
 * What both cluster stores (memory-store.ts, redis-store.ts) do with their arguments before
 * keeping them: the checks (invalid arguments throw AnyturnError ATN_ERR_CONFIG_INVALID), the
 * stamped records, and the order in which reads return them.
 */
import { AnyturnError } from '../errors.js';
import type { AnnouncementInput, AnnouncementRecord, RelayHeartbeat, RelayRecord } from './types.js';

const ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** Relay ids, PoP names and agent ids become parts of keys and table cells. */
export function checkId(what: string, id: string): void {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `${what} must match ${ID}, got '${String(id)}'`);
  }
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `TTL must be a whole number of ms >= 1, got ${ttlMs}`);
  }
}

export function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length === 0 || secret.length > 512 || /[\s]/.test(secret)) {
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', 'a REST secret must be 1..512 characters without whitespace');
  }
}

/** Overlay keys (src/overlay/keyring.ts): long enough to be a key, printable, no whitespace. */
export function checkOverlayKey(key: string): void {
  if (typeof key !== 'string' || key.length < 16 || key.length > 512 || /[\s]/.test(key)) {
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', 'an overlay key must be 16..512 characters without whitespace');
  }
}

/** Egress rules: `TENANT=UPLINK` (a user name or *, and an uplink name as in the relays' `uplink` setting). */
export function checkEgressRule(rule: string): void {
  if (typeof rule !== 'string' || !/^[^\s=]{1,256}=[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(rule)) {
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', 'an egress rule must be TENANT=UPLINK (a user name or *, and an uplink name)');
  }
}

/** Checks the arguments of a relayed-address claim. */
export function checkClaim(relayId: string, ttlMs: number): void {
  checkId('relay id', relayId);
  checkTtl(ttlMs);
}

/** Checks a heartbeat and stamps it: the record both stores keep (addresses copied). */
export function relayRecordOf(relay: RelayHeartbeat, ttlMs: number, now: number): RelayRecord {
  checkId('relay id', relay.id);
  checkId('PoP name', relay.pop);
  checkTtl(ttlMs);
  const overlay = relay.overlay === undefined
    ? {}
    : {
      overlay: {
        ...relay.overlay,
        addresses: relay.overlay.addresses.map((a) => ({ ...a })),
        paths: relay.overlay.paths.map((p) => ({ ...p })),
        ...(relay.overlay.relayed !== undefined ? { relayed: { ...relay.overlay.relayed, addresses: [...relay.overlay.relayed.addresses] } } : {}),
      },
    };
  return { ...relay, addresses: relay.addresses.map((a) => ({ ...a })), ...overlay, updatedAt: now, ttlMs };
}

/** Checks an announcement and stamps it: the record both stores keep (prefixes copied). */
export function announcementRecordOf(a: AnnouncementInput, ttlMs: number, now: number): AnnouncementRecord {
  checkId('PoP name', a.pop);
  checkId('agent id', a.agent);
  checkTtl(ttlMs);
  return { ...a, prefixes: [...a.prefixes], updatedAt: now, ttlMs };
}

/** The order of `relays()`: by PoP, then id. */
export function compareRelays(a: RelayRecord, b: RelayRecord): number {
  return compareText(a.pop, b.pop) || compareText(a.id, b.id);
}

/** The order of `announcements()`: by PoP, then agent. */
export function compareAnnouncements(a: AnnouncementRecord, b: AnnouncementRecord): number {
  return compareText(a.pop, b.pop) || compareText(a.agent, b.agent);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
