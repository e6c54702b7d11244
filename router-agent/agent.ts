/**
 * The reconcile loop: keeps the LAN mapping equal to the desired state for the relays
 * that are healthy now. A pass runs on start, every `reconcileInterval`, on a health
 * change and (debounced) on a netlink change. Passes never overlap; a trigger during
 * a pass queues exactly one more.
 */
import type { AgentConfig } from '../src/config/agent-schema.js';
import { TypedEmitter } from '../src/events.js';
import type { Logger } from '../src/log.js';
import { CoalescedRunner } from './coalesced-runner.js';
import { RelayHealth, type RelayHealthState, type RelayStatus } from './health.js';
import { LanMapper, type IpRunner, type ReconcileResult } from './lan.js';
import { lanPlan } from './lan-state.js';
import type { AgentMetrics } from './metrics.js';
import { NetlinkMonitor } from './monitor.js';

export type RouterAgentEvents = {
  /** After every pass (also those that changed nothing). */
  reconciled: [result: ReconcileResult];
  /** A relay's health changed (re-emitted from RelayHealth, for the BGP loop: announcer.ts). */
  health: [status: RelayStatus, previous: RelayHealthState];
};

const NETLINK_DEBOUNCE_MS = 100;

export class RouterAgent extends TypedEmitter<RouterAgentEvents> {
  readonly config: AgentConfig;
  readonly lan: LanMapper;
  readonly health: RelayHealth;
  readonly #log: Logger;
  readonly #metrics: AgentMetrics | undefined;
  #monitor: NetlinkMonitor | undefined;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #debounce: NodeJS.Timeout | undefined;
  readonly #passes: CoalescedRunner;
  #closed = false;

  constructor(config: AgentConfig, deps: { log: Logger; metrics?: AgentMetrics; ip?: IpRunner }) {
    super();
    this.config = config;
    this.#log = deps.log;
    this.logListenerErrorsTo(this.#log);
    this.#metrics = deps.metrics;
    this.#passes = new CoalescedRunner(
      () => this.#pass(),
      (err) => this.#log.error({ err: (err as Error).message }, 'reconcile pass failed'),
    );
    this.lan = new LanMapper(lanPlan(config), { log: deps.log.child({ component: 'lan' }), ip: deps.ip });
    this.health = new RelayHealth(
      config.relays.map((r) => ({ id: r.id, address: r.address, port: r.port })),
      { intervalMs: config.healthInterval, timeoutMs: config.healthTimeout, failures: config.healthFailures, rise: config.healthRise },
      { log: deps.log.child({ component: 'health' }) },
    );
    this.health.on('change', (status, previous) => {
      this.#metrics?.observeHealth(this.health.statuses());
      this.safeEmit('health', status, previous);
      // Only the running loop reacts; runOnce() converges once after health has settled.
      if (this.#timer) this.trigger();
    });
  }

  /** Relays that may take TCP/TLS flows now. */
  healthyIds(): Set<string> {
    return this.config.healthCheck ? this.health.healthyIds() : new Set(this.config.relays.map((r) => r.id));
  }

  /** The verdict per configured relay (what the BGP policy takes): probes, or all healthy without health checks. */
  relayHealth(): { id: string; healthy: boolean }[] {
    const healthy = this.healthyIds();
    return this.config.relays.map((r) => ({ id: r.id, healthy: healthy.has(r.id) }));
  }

  /**
   * Runs until close(). Health settles first (probes back to back), so a restarted agent
   * never shrinks a group it finds in the kernel just because it has not probed yet;
   * then the first pass, then timer, health and netlink triggers.
   */
  async start(): Promise<void> {
    if (this.#closed || this.#started) return;
    this.#started = true;
    if (this.config.healthCheck) {
      await this.health.settle();
      this.#metrics?.observeHealth(this.health.statuses());
      if (this.#closed) return;
      this.health.start();
    }
    if (this.config.watchNetlink) {
      this.#monitor = new NetlinkMonitor(
        { neighAddresses: this.lan.plan.families.map((f) => f.broadcastNextHop) },
        { log: this.#log.child({ component: 'monitor' }) },
      );
      this.#monitor.on('change', () => this.#debounced());
      this.#monitor.start();
    }
    this.#timer = setInterval(() => this.trigger(), this.config.reconcileInterval);
    this.trigger();
  }

  /** `--once`: settle health (probes back to back), then one pass. */
  async runOnce(): Promise<ReconcileResult> {
    if (this.config.healthCheck) await this.health.settle();
    this.#metrics?.observeHealth(this.health.statuses());
    return this.#pass();
  }

  /** `--teardown`: removes every object the agent owns. */
  async teardown(): Promise<ReconcileResult> {
    const result = await this.lan.teardown();
    this.#log.info({ changes: result.changes, failed: result.failed }, 'teardown done');
    return result;
  }

  /** Asks for a pass (coalesced with one already queued). */
  trigger(): void {
    if (this.#closed) return;
    this.#passes.request();
  }

  /** Resolves when no pass is running or queued. */
  idle(): Promise<void> {
    return this.#passes.idle();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const passesDone = this.#passes.stop();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#debounce) clearTimeout(this.#debounce);
    this.#monitor?.close();
    this.health.close();
    await passesDone;
  }

  #debounced(): void {
    if (this.#debounce || this.#closed) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.trigger();
    }, NETLINK_DEBOUNCE_MS);
  }

  async #pass(): Promise<ReconcileResult> {
    const healthy = this.healthyIds();
    const result = await this.lan.reconcile(healthy);
    this.#metrics?.observeReconcile(result);
    if (result.changes > 0 || result.failed > 0) {
      this.#log.info({ changes: result.changes, failed: result.failed, healthy: [...healthy] }, 'reconciled');
    }
    this.safeEmit('reconciled', result);
    return result;
  }
}
