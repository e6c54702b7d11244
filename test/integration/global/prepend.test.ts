/**
 * Proof (issue 4): load pop1 past its threshold. The relays heartbeat their load score into
 * Redis (`anyturn relay --redis`, capacity 100 here); the pop1 agent reads it from the
 * registry and, past the policy step `load >= 0.5 -> 2`, prepends its AS twice. The ISP
 * sees the longer AS path and prefers pop2, new clients go to pop2 — and the BGP session
 * stays Established (same since time: soft reconfiguration). Hysteresis holds the prepend
 * while the load sits just under the threshold; once the load falls, pop1 takes the
 * clients again. Draining every pop1 relay (SIGUSR1, state `draining` in the registry)
 * withdraws pop1; ending the drain announces it again.
 *
 * The load is real: allocations held open on pop1's relays by client processes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../lab/netns.js';
import { NsClient } from '../anycast/anycast-lab.js';
import { GlobalLab, metricValue } from './global-lab.js';

const CAPACITY = 100;
const STEP = { load: 0.5, prepend: 2 };
const HYSTERESIS = 0.05;

describe('global: a loaded PoP prepends and the ISP moves away', () => {
  let g: GlobalLab;
  /** Two batches of held allocations on each pop1 relay: 47 + 23 (released separately). */
  let base: NsClient;
  let extra: NsClient;

  beforeAll(async () => {
    g = await GlobalLab.start({
      relayArgs: ['--capacity', String(CAPACITY)],
      agent: { bgp: { steps: [STEP], hysteresis: HYSTERESIS }, announceInterval: 1000 },
    });
    base = await new NsClient(g.lab.clients[0].ns).ready();
    extra = await new NsClient(g.lab.clients[0].ns).ready();
  });

  afterAll(async () => {
    await base?.close();
    await extra?.close();
    await g?.stop();
  });

  async function hold(client: NsClient, perRelay: number): Promise<void> {
    for (const r of g.lab.pops[0].relays) {
      expect(await client.hold(r.address, perRelay)).toMatchObject({ ok: perRelay, failed: 0 });
    }
  }

  /** Waits until both pop1 relays report `allocations` in the registry (their heartbeats). */
  async function registryShows(allocations: number): Promise<void> {
    await waitFor(`pop1's relays to report ${allocations} allocations`, async () => {
      await g.store.refresh();
      return g.lab.pops[0].relays.every((r) => g.store.relay(r.id)?.allocations === allocations) || undefined;
    }, 10_000, 50);
  }

  /** Waits until the pop1 agent has evaluated the policy with this aggregate load (its gauge). */
  async function agentSawLoad(load: number): Promise<string> {
    return waitFor(`the pop1 agent to see load ${load}`, async () => {
      const text = await g.agentMetrics(g.lab.pops[0]);
      const seen = metricValue(text, 'anyturn_agent_bgp_load');
      return seen !== undefined && Math.abs(seen - load) < 0.005 ? text : undefined;
    }, 10_000, 50);
  }

  it('the relays\' heartbeats carry their load into the registry', async () => {
    await g.store.refresh();
    for (const pop of g.lab.pops) {
      for (const r of pop.relays) {
        expect(g.store.relay(r.id)).toMatchObject({ pop: pop.name, capacity: CAPACITY, state: 'active' });
      }
    }
  });

  it('load 0.7 >= 0.5: the ISP sees pop1\'s path prepended twice, prefers pop2, the session stays up', async () => {
    const [pop1, pop2] = g.lab.pops;
    expect((await g.ispChoice())?.name).toBe('pop1');
    const session = await g.ispSession(pop1);
    expect(session).toMatchObject({ state: 'up', info: 'Established' });

    await hold(base, 47);
    await hold(extra, 23);
    await registryShows(70);
    const routes = await waitFor('the prepended path at the ISP', async () => {
      const rs = await g.waitRoutes(2);
      return rs.find((r) => r.protocol === 'pop1')?.asPath === '65001 65001 65001' ? rs : undefined;
    }, 10_000, 20);
    expect(routes.find((r) => r.primary)).toMatchObject({ protocol: 'pop2', asPath: '65002', via: pop2.uplinkAddress });
    await waitFor('the ISP kernel to route G to pop2', async () => ((await g.ispChoice()) === pop2 ? true : undefined), 5_000, 20);
    await g.expectSessionKept(pop1, session);

    const results = await g.allocate(12);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => g.popOf(r.alternate) === pop2)).toBe(true);

    const status = await g.status();
    expect(status.pops.find((p) => p.pop === 'pop1')?.announcements).toEqual([
      expect.objectContaining({ action: 'announce', prepend: 2 }),
    ]);
    const text = await g.agentMetrics(pop1);
    expect(metricValue(text, 'anyturn_agent_bgp_prepend')).toBe(2);
    expect(metricValue(text, 'anyturn_agent_bgp_announced')).toBe(1);
  });

  it('load 0.47 (inside the hysteresis margin) keeps the prepend; load 0 removes it and pop1 takes the clients again', async () => {
    const [pop1] = g.lab.pops;
    const session = await g.ispSession(pop1);

    expect(await extra.releaseHeld()).toMatchObject({ released: 46 });
    await registryShows(47);
    const held = await agentSawLoad(0.47);
    expect(metricValue(held, 'anyturn_agent_bgp_prepend')).toBe(2);
    expect((await g.waitRoutes(2)).find((r) => r.protocol === 'pop1')?.asPath).toBe('65001 65001 65001');

    expect(await base.releaseHeld()).toMatchObject({ released: 94 });
    await registryShows(0);
    await waitFor('the plain path at the ISP', async () => {
      const rs = await g.waitRoutes(2);
      return rs.find((r) => r.primary)?.protocol === 'pop1' && rs.find((r) => r.protocol === 'pop1')?.asPath === '65001' ? true : undefined;
    }, 10_000, 20);
    await waitFor('the ISP kernel to route G to pop1', async () => ((await g.ispChoice()) === pop1 ? true : undefined), 5_000, 20);
    const results = await g.allocate(12);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => g.popOf(r.alternate) === pop1)).toBe(true);
    await g.expectSessionKept(pop1, session);
    const text = await g.agentMetrics(pop1);
    expect(metricValue(text, 'anyturn_agent_bgp_prepend')).toBe(0);
    // announce (start), announce prepend 2, announce prepend 0: three routing changes, no withdraw.
    expect(text).toMatch(/anyturn_agent_bgp_decisions_total\{action="announce",pop="pop1"\} 3/);
    expect(text).toMatch(/anyturn_agent_bgp_decisions_total\{action="withdraw",pop="pop1"\} 0/);
  });

  it('draining every pop1 relay (registry state) withdraws pop1; ending the drain announces it again', async () => {
    const [pop1, pop2] = g.lab.pops;
    const session = await g.ispSession(pop1);
    for (const r of g.relaysOf(pop1)) r.proc.child.kill('SIGUSR1');
    await waitFor('the ISP to route G to pop2', async () => ((await g.ispChoice()) === pop2 ? true : undefined), 10_000, 20);
    expect(await g.waitRoutes(1)).toEqual([expect.objectContaining({ protocol: 'pop2' })]);
    await g.store.refresh();
    expect(g.store.announcements().find((a) => a.pop === 'pop1')).toMatchObject({
      action: 'withdraw', reason: 'all 2 healthy relays are full or draining',
    });
    const results = await g.allocate(4);
    expect(results.every((r) => r.ok && g.popOf(r.alternate) === pop2)).toBe(true);

    for (const r of g.relaysOf(pop1)) r.proc.child.kill('SIGUSR2');
    await waitFor('the ISP to route G to pop1 again', async () => ((await g.ispChoice()) === pop1 ? true : undefined), 10_000, 20);
    await g.expectSessionKept(pop1, session);
  });
});
