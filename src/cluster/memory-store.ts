/**
 * The embedded cluster store (no Redis): everything lives in this process. Several
 * store handles may share one MemoryClusterBackend (several relays in one process, and
 * the shared contract tests); each handle gets the cluster-wide events.
 * Records expire by the injected clock, checked on read.
 */
import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { TypedEmitter } from '../events.js';
import { announcementMember, relayedAddressText } from './keys.js';
import { announcementRecordOf, checkClaim, checkEgressRule, checkOverlayKey, checkSecret, compareAnnouncements, compareRelays, relayRecordOf } from './records.js';
import type { ClusterStore } from './store.js';
import { summarize } from './summary.js';
import type {
  AnnouncementInput,
  AnnouncementRecord,
  ClusterStoreEvents,
  ConnectionState,
  PopSummary,
  RelayedAddress,
  RelayHeartbeat,
  RelayRecord,
  WriteResult,
} from './types.js';

interface Expiring<T> {
  value: T;
  expiresAt: number;
}

type BackendEvents = { secrets: [secrets: string[]]; overlayKeys: [keys: string[]]; egressRules: [rules: string[]] };

/** The shared state behind one or more MemoryClusterStore handles. */
export class MemoryClusterBackend {
  readonly relays = new Map<string, Expiring<RelayRecord>>();
  readonly announcements = new Map<string, Expiring<AnnouncementRecord>>();
  /** secret -> time added. */
  readonly secrets = new Map<string, number>();
  /** overlay key -> time added. */
  readonly overlayKeys = new Map<string, number>();
  /** egress rule -> time added. */
  readonly egressRules = new Map<string, number>();
  readonly addresses = new Map<string, Expiring<string>>();
  nonceKey: Buffer | undefined;
  readonly events = new TypedEmitter<BackendEvents>();

  secretList(): string[] {
    return newestFirst(this.secrets);
  }

  overlayKeyList(): string[] {
    return newestFirst(this.overlayKeys);
  }

  egressRuleList(): string[] {
    return newestFirst(this.egressRules);
  }
}

export interface MemoryClusterStoreOptions {
  clock?: Clock;
  /** Share state with other handles; default: a private backend. */
  backend?: MemoryClusterBackend;
}

export class MemoryClusterStore extends TypedEmitter<ClusterStoreEvents> implements ClusterStore {
  readonly kind = 'memory' as const;
  readonly backend: MemoryClusterBackend;
  readonly #clock: Clock;
  #closed = false;
  #nonceKeyLoaded = false;
  readonly #onSecrets = (secrets: string[]) => {
    if (!this.#closed) this.safeEmit('secrets', secrets);
  };
  readonly #onOverlayKeys = (keys: string[]) => {
    if (!this.#closed) this.safeEmit('overlayKeys', keys);
  };
  readonly #onEgressRules = (rules: string[]) => {
    if (!this.#closed) this.safeEmit('egressRules', rules);
  };

  constructor(opts: MemoryClusterStoreOptions = {}) {
    super();
    this.#clock = opts.clock ?? systemClock;
    this.backend = opts.backend ?? new MemoryClusterBackend();
    this.backend.events.on('secrets', this.#onSecrets);
    this.backend.events.on('overlayKeys', this.#onOverlayKeys);
    this.backend.events.on('egressRules', this.#onEgressRules);
  }

  async start(): Promise<void> {}

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.backend.events.off('secrets', this.#onSecrets);
    this.backend.events.off('overlayKeys', this.#onOverlayKeys);
    this.backend.events.off('egressRules', this.#onEgressRules);
  }

  connectionState(): ConnectionState {
    return 'up';
  }

  async heartbeat(relay: RelayHeartbeat, ttlMs: number): Promise<WriteResult> {
    const record = relayRecordOf(relay, ttlMs, this.#clock.now());
    this.backend.relays.set(record.id, { value: record, expiresAt: record.updatedAt + ttlMs });
    return 'written';
  }

  async deregister(relayId: string): Promise<WriteResult> {
    this.backend.relays.delete(relayId);
    return 'written';
  }

  relays(): RelayRecord[] {
    return live(this.backend.relays, this.#clock.now()).sort(compareRelays);
  }

  relay(id: string): RelayRecord | undefined {
    const e = this.backend.relays.get(id);
    return e !== undefined && e.expiresAt > this.#clock.now() ? e.value : undefined;
  }

  popSummaries(): PopSummary[] {
    return summarize(this.relays(), this.announcements());
  }

  async refresh(): Promise<void> {
    if (!this.#closed) this.safeEmit('registry', this.relays());
  }

  async publishAnnouncement(a: AnnouncementInput, ttlMs: number): Promise<WriteResult> {
    const record = announcementRecordOf(a, ttlMs, this.#clock.now());
    this.backend.announcements.set(announcementMember(a.pop, a.agent), { value: record, expiresAt: record.updatedAt + ttlMs });
    return 'written';
  }

  announcements(): AnnouncementRecord[] {
    return live(this.backend.announcements, this.#clock.now()).sort(compareAnnouncements);
  }

  secrets(): string[] {
    return this.backend.secretList();
  }

  async addSecret(secret: string): Promise<WriteResult> {
    checkSecret(secret);
    if (addNewest(this.backend.secrets, secret, this.#clock.now())) this.backend.events.safeEmit('secrets', this.backend.secretList());
    return 'written';
  }

  async retireSecret(secret: string): Promise<WriteResult> {
    if (this.backend.secrets.delete(secret)) this.backend.events.safeEmit('secrets', this.backend.secretList());
    return 'written';
  }

  overlayKeys(): string[] {
    return this.backend.overlayKeyList();
  }

  async addOverlayKey(key: string): Promise<WriteResult> {
    checkOverlayKey(key);
    if (addNewest(this.backend.overlayKeys, key, this.#clock.now())) {
      this.backend.events.safeEmit('overlayKeys', this.backend.overlayKeyList());
    }
    return 'written';
  }

  async retireOverlayKey(key: string): Promise<WriteResult> {
    if (this.backend.overlayKeys.delete(key)) this.backend.events.safeEmit('overlayKeys', this.backend.overlayKeyList());
    return 'written';
  }

  egressRules(): string[] {
    return this.backend.egressRuleList();
  }

  async addEgressRule(rule: string): Promise<WriteResult> {
    checkEgressRule(rule);
    if (addNewest(this.backend.egressRules, rule, this.#clock.now())) {
      this.backend.events.safeEmit('egressRules', this.backend.egressRuleList());
    }
    return 'written';
  }

  async retireEgressRule(rule: string): Promise<WriteResult> {
    if (this.backend.egressRules.delete(rule)) this.backend.events.safeEmit('egressRules', this.backend.egressRuleList());
    return 'written';
  }

  async nonceKey(): Promise<Buffer> {
    if (this.backend.nonceKey === undefined) this.backend.nonceKey = randomBytes(32);
    if (!this.#nonceKeyLoaded) {
      this.#nonceKeyLoaded = true;
      this.safeEmit('nonceKey', this.backend.nonceKey);
    }
    return this.backend.nonceKey;
  }

  cachedNonceKey(): Buffer | undefined {
    return this.#nonceKeyLoaded ? this.backend.nonceKey : undefined;
  }

  async claimRelayedAddress(address: RelayedAddress, relayId: string, ttlMs: number): Promise<WriteResult> {
    checkClaim(relayId, ttlMs);
    this.backend.addresses.set(relayedAddressText(address), { value: relayId, expiresAt: this.#clock.now() + ttlMs });
    return 'written';
  }

  async releaseRelayedAddress(address: RelayedAddress, relayId: string): Promise<WriteResult> {
    const key = relayedAddressText(address);
    if (this.backend.addresses.get(key)?.value === relayId) this.backend.addresses.delete(key);
    return 'written';
  }

  async ownerOfRelayedAddress(address: RelayedAddress): Promise<string | undefined> {
    return this.cachedOwnerOfRelayedAddress(address);
  }

  cachedOwnerOfRelayedAddress(address: RelayedAddress): string | undefined {
    const key = relayedAddressText(address);
    const e = this.backend.addresses.get(key);
    if (e === undefined) return undefined;
    if (e.expiresAt <= this.#clock.now()) {
      this.backend.addresses.delete(key);
      return undefined;
    }
    return e.value;
  }
}

function newestFirst(added: Map<string, number>): string[] {
  return [...added.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([s]) => s);
}

/** Adds `value` as the newest entry (strictly increasing times: "newest first" holds within one ms). */
function addNewest(added: Map<string, number>, value: string, now: number): boolean {
  if (added.has(value)) return false;
  let t = now;
  for (const at of added.values()) if (at >= t) t = at + 1;
  added.set(value, t);
  return true;
}

/** Values not yet expired; drops the expired ones. */
function live<T>(map: Map<string, Expiring<T>>, now: number): T[] {
  const out: T[] = [];
  for (const [k, e] of map) {
    if (e.expiresAt <= now) map.delete(k);
    else out.push(e.value);
  }
  return out;
}
