/**
 * The BGP loop (router-agent/announcer.ts) with the in-memory cluster store and a
 * recording stand-in for the BIRD driver: BIRD is reconfigured only when the routing
 * changes, failures are retried, hysteresis is relative to what BIRD runs, decisions are
 * published, metrics follow.
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../../src/cluster/memory-store.js';
import type { RelayState } from '../../../src/cluster/types.js';
import { silentLogger } from '../../../src/log.js';
import { Announcer } from '../../../router-agent/announcer.js';
import { BgpMetrics } from '../../../router-agent/bgp-metrics.js';
import type { ApplyResult, BgpDecision } from '../../../router-agent/bird.js';

class FakeDriver {
  readonly applied: { action: string; prepend: number }[] = [];
  fail: Error | undefined;
  #text: string | undefined;

  async apply(d: BgpDecision): Promise<ApplyResult> {
    if (this.fail) throw this.fail;
    const text = `${d.action}:${d.action === 'announce' ? d.prepend : 0}`;
    if (text === this.#text) return 'unchanged';
    this.#text = text;
    this.applied.push({ action: d.action, prepend: d.prepend });
    return 'reconfigured';
  }
}

const RELAYS = ['p1-r1', 'p1-r2'];

function setup(opts: { intervalMs?: number } = {}) {
  let now = 1_000_000;
  const clock = { now: () => now };
  const store = new MemoryClusterStore({ clock });
  const driver = new FakeDriver();
  const health = new Map(RELAYS.map((id) => [id, true]));
  const registry = new Registry();
  const metrics = new BgpMetrics(registry);
  const announcer = new Announcer(
    {
      pop: 'p1', agentId: 'p1-router', prefixes: ['198.18.0.1/32'], intervalMs: opts.intervalMs ?? 1000,
      thresholds: { steps: [{ load: 0.6, prepend: 1 }, { load: 0.8, prepend: 3 }], hysteresis: 0.05 },
    },
    { driver, store, relays: () => RELAYS.map((id) => ({ id, healthy: health.get(id)! })), log: silentLogger(), metrics, clock },
  );
  const heartbeat = (id: string, load: number, state: RelayState = 'active') =>
    store.heartbeat({ id, pop: 'p1', addresses: [], capacity: 100, allocations: Math.round(load * 100), load, bandwidthBps: 0, state }, 60_000);
  const advance = (ms: number) => {
    now += ms;
  };
  return { store, driver, health, registry, announcer, heartbeat, advance };
}

async function gauge(registry: Registry, name: string): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values as { value: number }[] | undefined)?.[0]?.value;
}

let current: ReturnType<typeof setup> | undefined;
afterEach(async () => {
  await current?.announcer.close();
  current = undefined;
});

describe('Announcer', () => {
  it('announces when relays are healthy and publishes the decision', async () => {
    const t = (current = setup());
    const { decision, outcome } = await t.announcer.evaluate();
    expect(decision).toMatchObject({ action: 'announce', prepend: 0, eligibleRelays: 2 });
    expect(outcome).toBe('reconfigured');
    expect(t.driver.applied).toEqual([{ action: 'announce', prepend: 0 }]);
    expect(t.store.announcements()).toEqual([
      expect.objectContaining({ pop: 'p1', agent: 'p1-router', action: 'announce', prepend: 0, prefixes: ['198.18.0.1/32'], ttlMs: 3000 }),
    ]);
    expect(await gauge(t.registry, 'anyturn_agent_bgp_announced')).toBe(1);
  });

  it('does not touch BIRD while the routing stays the same', async () => {
    const t = (current = setup());
    await t.announcer.evaluate();
    await t.heartbeat('p1-r1', 0.3);
    const again = await t.announcer.evaluate();
    expect(again.outcome).toBe('kept');
    expect(t.driver.applied).toHaveLength(1);
  });

  it('withdraws when every relay is unhealthy and announces again when one returns', async () => {
    const t = (current = setup());
    const changes: string[] = [];
    t.announcer.on('changed', (d) => changes.push(`${d.action}:${d.prepend}`));
    await t.announcer.evaluate();
    t.health.set('p1-r1', false);
    expect((await t.announcer.evaluate()).decision.action).toBe('announce');
    t.health.set('p1-r2', false);
    const down = await t.announcer.evaluate();
    expect(down.decision).toMatchObject({ action: 'withdraw', reason: 'no healthy relay (0/2)' });
    expect(t.store.announcements()[0]).toMatchObject({ action: 'withdraw', prepend: 0 });
    expect(await gauge(t.registry, 'anyturn_agent_bgp_announced')).toBe(0);
    t.health.set('p1-r2', true);
    await t.announcer.evaluate();
    expect(t.driver.applied.map((a) => a.action)).toEqual(['announce', 'withdraw', 'announce']);
    expect(changes).toEqual(['announce:0', 'withdraw:0', 'announce:0']);
  });

  it('withdraws when the healthy relays are full or draining (registry state)', async () => {
    const t = (current = setup());
    await t.heartbeat('p1-r1', 1, 'full');
    await t.heartbeat('p1-r2', 0.1, 'draining');
    const { decision } = await t.announcer.evaluate();
    expect(decision).toMatchObject({ action: 'withdraw', reason: 'all 2 healthy relays are full or draining' });
  });

  it('prepends as the registry load rises, with hysteresis relative to what BIRD runs', async () => {
    const t = (current = setup());
    await t.heartbeat('p1-r1', 0.7);
    await t.heartbeat('p1-r2', 0.7);
    expect((await t.announcer.evaluate()).decision).toMatchObject({ action: 'announce', prepend: 1 });
    await t.heartbeat('p1-r1', 0.9);
    await t.heartbeat('p1-r2', 0.8);
    expect((await t.announcer.evaluate()).decision.prepend).toBe(3);
    expect(await gauge(t.registry, 'anyturn_agent_bgp_prepend')).toBe(3);
    // 0.78 is below the 0.8 step but within the 0.05 margin: held
    await t.heartbeat('p1-r1', 0.78);
    await t.heartbeat('p1-r2', 0.78);
    const held = await t.announcer.evaluate();
    expect(held).toMatchObject({ outcome: 'kept', decision: { prepend: 3 } });
    await t.heartbeat('p1-r1', 0.7);
    await t.heartbeat('p1-r2', 0.7);
    expect((await t.announcer.evaluate()).decision.prepend).toBe(1);
    expect(t.driver.applied).toEqual([
      { action: 'announce', prepend: 1 },
      { action: 'announce', prepend: 3 },
      { action: 'announce', prepend: 1 },
    ]);
    expect(t.store.announcements()[0]).toMatchObject({ prepend: 1 });
  });

  it('retries a failed BIRD reconfiguration on the next evaluation and counts the failure', async () => {
    const t = (current = setup());
    t.driver.fail = new Error('birdc configure: Unable to connect');
    const first = await t.announcer.evaluate();
    expect(first.outcome).toBe('failed');
    expect(t.announcer.applied).toBeUndefined();
    expect(t.store.announcements()).toEqual([]);
    expect(await gauge(t.registry, 'anyturn_agent_bgp_apply_failures_total')).toBe(1);
    t.driver.fail = undefined;
    expect((await t.announcer.evaluate()).outcome).toBe('reconfigured');
    expect(t.driver.applied).toEqual([{ action: 'announce', prepend: 0 }]);
    expect(t.store.announcements()).toHaveLength(1);
  });

  it('republishes when the interval is due, not on every evaluation', async () => {
    const t = (current = setup({ intervalMs: 1000 }));
    await t.announcer.evaluate();
    const first = t.store.announcements()[0].updatedAt;
    t.advance(500);
    await t.announcer.evaluate();
    expect(t.store.announcements()[0].updatedAt).toBe(first);
    t.advance(600);
    await t.announcer.evaluate();
    expect(t.store.announcements()[0].updatedAt).toBe(first + 1100);
  });

  it('runs on start and on triggers, never overlapping, and withdraw() withdraws whatever the relays say', async () => {
    const t = (current = setup({ intervalMs: 60_000 }));
    const evaluated: string[] = [];
    t.announcer.on('evaluated', (d, outcome) => evaluated.push(`${d.action}/${outcome}`));
    t.announcer.trigger(); // before start: ignored
    t.announcer.start();
    t.announcer.trigger();
    t.announcer.trigger();
    await t.announcer.idle();
    expect(evaluated).toEqual(['announce/reconfigured', 'announce/kept']);
    await t.announcer.withdraw('teardown');
    expect(t.driver.applied.at(-1)).toEqual({ action: 'withdraw', prepend: 0 });
    expect(t.store.announcements()[0]).toMatchObject({ action: 'withdraw', reason: 'teardown' });
    await t.announcer.close();
    t.announcer.trigger();
    await t.announcer.idle();
    expect(evaluated).toHaveLength(2);
  });
});
