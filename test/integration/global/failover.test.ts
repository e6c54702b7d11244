/**
 * Proof (issue 4): kill both relays of pop1 (SIGKILL). The pop1 agent (default health
 * settings) withdraws G, the ISP's route flips to pop2, and the client's next Allocate
 * through G succeeds at pop2. Measured: last relay's death -> route at the ISP flipped,
 * and -> first successful Allocate at pop2 (a client starts a new Allocate through G
 * every 100 ms, as an application retrying would). Then the relays come back and pop1
 * takes the clients again. The BGP sessions never reset (withdraw/announce are soft).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConfigSchema } from '../../../src/config/agent-schema.js';
import { waitFor } from '../../lab/netns.js';
import type { AllocationResult } from '../anycast/anycast-lab.js';
import { GlobalLab, metricValue } from './global-lab.js';

/** The agent's own defaults (health-interval 1000 ms, timeout 500 ms, 3 failures). */
const DEFAULTS = AgentConfigSchema.parse({
  pop: 'x', 'lan-interface': 'lan', 'broadcast-next-hop': '10.0.0.254', anycast: ['198.18.0.1'], relays: [{ id: 'r', address: '10.0.0.1' }],
});

describe('global: a PoP loses all its relays', () => {
  let g: GlobalLab;

  beforeAll(async () => {
    g = await GlobalLab.start({
      agent: {
        healthInterval: DEFAULTS.healthInterval,
        healthTimeout: DEFAULTS.healthTimeout,
        healthFailures: DEFAULTS.healthFailures,
        announceInterval: 1000,
      },
    });
  });

  afterAll(async () => {
    await g?.stop();
  });

  it('the pop1 agent withdraws, the ISP flips to pop2, the next Allocate through G succeeds at pop2 (time measured)', async () => {
    const [pop1, pop2] = g.lab.pops;
    expect((await g.ispChoice())?.name).toBe('pop1');
    const sessionBefore = await g.ispSession(pop1);
    const before = await g.allocate(4);
    expect(before.every((r) => r.ok && g.popOf(r.alternate) === pop1)).toBe(true);

    // A client that starts an Allocate through G every 100 ms.
    const settled: { started: number; result: AllocationResult | undefined }[] = [];
    const pending: Promise<void>[] = [];
    let firstAtPop2: number | undefined;
    const tick = setInterval(() => {
      const started = Date.now();
      pending.push(g.client.allocate(g.g, { count: 1, concurrency: 1 }).then(
        ([result]) => {
          if (result?.ok && g.popOf(result.alternate) === pop2 && result.ms !== undefined) {
            const at = started + result.ms;
            if (firstAtPop2 === undefined || at < firstAtPop2) firstAtPop2 = at;
          }
          settled.push({ started, result });
        },
        () => {
          settled.push({ started, result: undefined });
        },
      ));
    }, 100);

    let flipped = 0;
    let dead = 0;
    const afterFlip = () => settled.filter((a) => a.started > flipped + 100);
    try {
      const victims = g.relaysOf(pop1);
      for (const v of victims) v.proc.child.kill('SIGKILL');
      await Promise.all(victims.map((v) => v.proc.exit(10_000)));
      dead = Date.now(); // (an upper bound of) the last relay's death
      await waitFor('the ISP to route G to pop2', async () => {
        if ((await g.ispChoice()) !== pop2) return undefined;
        flipped = Date.now();
        return true;
      }, 15_000, 10);
      await waitFor('an Allocate through G to succeed at pop2', () => firstAtPop2 !== undefined || undefined, 15_000, 20);
      await waitFor('5 Allocates started after the flip to finish', () => afterFlip().length >= 5 || undefined, 15_000, 20);
    } finally {
      clearInterval(tick);
    }
    await Promise.all(pending);
    const flipMs = flipped - dead;
    const allocateMs = firstAtPop2! - dead;
    console.log(
      `failover (health interval ${DEFAULTS.healthInterval} ms, timeout ${DEFAULTS.healthTimeout} ms, ${DEFAULTS.healthFailures} failures): `
      + `ISP route at pop2 after ${flipMs} ms, first Allocate at pop2 after ${allocateMs} ms (${settled.length} attempts)`,
    );
    expect(flipMs).toBeGreaterThan(0);
    // Goal 3 s; the bound leaves room for a loaded CI machine.
    expect(allocateMs).toBeLessThan(4000);
    // Every Allocate started after the flip succeeded at pop2.
    expect(afterFlip().every((a) => a.result?.ok && g.popOf(a.result.alternate) === pop2)).toBe(true);

    // The withdraw did not reset the BGP session; the store and the metrics say why.
    await g.expectSessionKept(pop1, sessionBefore);
    expect(await g.waitRoutes(1)).toEqual([expect.objectContaining({ protocol: 'pop2', primary: true })]);
    const announcement = await waitFor('the withdraw in the cluster store', async () => {
      await g.store.refresh();
      const a = g.store.announcements().find((x) => x.pop === 'pop1');
      return a?.action === 'withdraw' ? a : undefined;
    }, 5_000, 50);
    expect(announcement.reason).toBe('no healthy relay (0/2)');
    const text = await g.agentMetrics(pop1);
    expect(metricValue(text, 'anyturn_agent_bgp_announced')).toBe(0);
    expect(text).toMatch(/anyturn_agent_bgp_decisions_total\{action="withdraw",pop="pop1"\} 1/);
  });

  it('when pop1\'s relays return, pop1 announces again and takes the new clients', async () => {
    const [pop1] = g.lab.pops;
    await Promise.all(g.relaysOf(pop1).map((r) => g.startRelay(pop1, r.relay)));
    await waitFor('the ISP to route G to pop1 again', async () => ((await g.ispChoice()) === pop1 ? true : undefined), 15_000, 20);
    const after = await g.allocate(8);
    expect(after.filter((r) => !r.ok)).toEqual([]);
    expect(after.every((r) => g.popOf(r.alternate) === pop1)).toBe(true);
    const routes = await g.waitRoutes(2);
    expect(routes.find((r) => r.primary)?.protocol).toBe('pop1');
  });
});
