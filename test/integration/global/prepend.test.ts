/**
 * Proof (issue 4): load pop1 past its threshold. The pop1 agent reads the relays' load
 * from the cluster registry, prepends its AS twice (policy step `load >= 0.5 -> 2`), the
 * ISP sees the longer AS path and prefers pop2, new clients go to pop2 — and the BGP
 * session stays Established (same since time: soft reconfiguration). Hysteresis holds the
 * prepend while the load hovers just under the threshold; once the load falls, pop1
 * takes the clients again.
 *
 * The relay load comes from the registry. Until the relay daemon heartbeats into the
 * cluster store itself (relay-side wiring, `--redis`), this test publishes the pop1
 * relays' heartbeats through the ClusterStore API as a stand-in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../lab/netns.js';
import { GlobalLab, metricValue } from './global-lab.js';

const STEP = { load: 0.5, prepend: 2 };
const HYSTERESIS = 0.05;

describe('global: a loaded PoP prepends and the ISP moves away', () => {
  let g: GlobalLab;

  beforeAll(async () => {
    g = await GlobalLab.start({ agent: { bgp: { steps: [STEP], hysteresis: HYSTERESIS }, announceInterval: 1000 } });
  });

  afterAll(async () => {
    await g?.stop();
  });

  /** Stand-in heartbeats of pop1's relays with this load (TTL 60 s). */
  async function setPop1Load(load: number): Promise<void> {
    const pop1 = g.lab.pops[0];
    for (const r of pop1.relays) {
      const capacity = 1000;
      const written = await g.store.heartbeat({
        id: r.id, pop: pop1.name, addresses: [{ transport: 'udp', family: 4, address: r.address, port: 3478 }],
        capacity, allocations: Math.round(load * capacity), load, bandwidthBps: 0, state: 'active',
      }, 60_000);
      expect(written).toBe('written');
    }
  }

  /** Waits until the pop1 agent has evaluated the policy with this aggregate load (its gauge). */
  async function agentSawLoad(load: number): Promise<string> {
    return waitFor(`the pop1 agent to see load ${load}`, async () => {
      const text = await g.agentMetrics(g.lab.pops[0]);
      const seen = metricValue(text, 'anyturn_agent_bgp_load');
      return seen !== undefined && Math.abs(seen - load) < 1e-9 ? text : undefined;
    }, 10_000, 50);
  }

  it('load 0.7 >= 0.5: the ISP sees pop1\'s path prepended twice, prefers pop2, the session stays up', async () => {
    const [pop1, pop2] = g.lab.pops;
    expect((await g.ispChoice())?.name).toBe('pop1');
    const session = await g.ispSession(pop1);
    expect(session).toMatchObject({ state: 'up', info: 'Established' });

    await setPop1Load(0.7);
    const routes = await waitFor('the prepended path at the ISP', async () => {
      const rs = await g.waitRoutes(2);
      return rs.find((r) => r.protocol === 'pop1')?.asPath === '65001 65001 65001' ? rs : undefined;
    }, 10_000, 20);
    expect(routes.find((r) => r.primary)).toMatchObject({ protocol: 'pop2', asPath: '65002', via: pop2.uplinkAddress });
    await waitFor('the ISP kernel to route G to pop2', async () => ((await g.ispChoice()) === pop2 ? true : undefined), 5_000, 20);
    expect(await g.ispSession(pop1)).toMatchObject({ state: 'up', info: 'Established', since: session!.since });

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

  it('load 0.47 (inside the hysteresis margin) keeps the prepend; load 0.2 removes it and pop1 takes the clients again', async () => {
    const [pop1] = g.lab.pops;
    const session = await g.ispSession(pop1);

    await setPop1Load(0.47);
    const held = await agentSawLoad(0.47);
    expect(metricValue(held, 'anyturn_agent_bgp_prepend')).toBe(2);
    expect((await g.waitRoutes(2)).find((r) => r.protocol === 'pop1')?.asPath).toBe('65001 65001 65001');

    await setPop1Load(0.2);
    await waitFor('the plain path at the ISP', async () => {
      const rs = await g.waitRoutes(2);
      return rs.find((r) => r.primary)?.protocol === 'pop1' && rs.find((r) => r.protocol === 'pop1')?.asPath === '65001' ? true : undefined;
    }, 10_000, 20);
    await waitFor('the ISP kernel to route G to pop1', async () => ((await g.ispChoice()) === pop1 ? true : undefined), 5_000, 20);
    const results = await g.allocate(12);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => g.popOf(r.alternate) === pop1)).toBe(true);
    expect(await g.ispSession(pop1)).toMatchObject({ info: 'Established', since: session!.since });
    const text = await g.agentMetrics(pop1);
    expect(metricValue(text, 'anyturn_agent_bgp_prepend')).toBe(0);
    // announce (start), announce prepend 2, announce prepend 0: three routing changes, no withdraw.
    expect(text).toMatch(/anyturn_agent_bgp_decisions_total\{action="announce",pop="pop1"\} 3/);
    expect(text).toMatch(/anyturn_agent_bgp_decisions_total\{action="withdraw",pop="pop1"\} 0/);
  });
});
