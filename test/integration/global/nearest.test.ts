/**
 * Proof (issue 4): the ISP's best route to G points at the nearer PoP (pop1: same AS-path
 * length, lower MED), and a client's Allocate through G lands on a pop1 relay. Both
 * agents publish their decision in the cluster store; `anyturn status` shows it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh, waitFor } from '../../lab/netns.js';
import { anyturnBin } from '../../lab/proc.js';
import { GlobalLab, metricValue } from './global-lab.js';

describe('global: the nearer PoP takes the clients', () => {
  let g: GlobalLab;

  beforeAll(async () => {
    g = await GlobalLab.start({ agent: { announceInterval: 1000 } });
  });

  afterAll(async () => {
    await g?.stop();
  });

  it('the ISP holds both PoPs\' routes and prefers pop1 (lower MED, equal AS-path length)', async () => {
    const [pop1, pop2] = g.lab.pops;
    const routes = await g.waitRoutes(2);
    const best = routes.find((r) => r.primary);
    expect(best).toMatchObject({ protocol: 'pop1', via: pop1.uplinkAddress, asPath: '65001', med: 10 });
    expect(routes.find((r) => !r.primary)).toMatchObject({ protocol: 'pop2', via: pop2.uplinkAddress, asPath: '65002', med: 20 });
    expect((await g.ispChoice())?.name).toBe('pop1');
    for (const pop of g.lab.pops) expect(await g.ispSession(pop)).toMatchObject({ state: 'up', info: 'Established' });
  });

  it('Allocates through G land on pop1 relays', async () => {
    const results = await g.allocate(20);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const pops = new Set(results.map((r) => g.popOf(r.alternate)?.name));
    expect([...pops]).toEqual(['pop1']);
  });

  it('each agent publishes its announcement (store, anyturn status) and exports BGP metrics', async () => {
    const status = await g.status();
    for (const name of ['pop1', 'pop2']) {
      const pop = status.pops.find((p) => p.pop === name);
      expect(pop?.announcements).toEqual([expect.objectContaining({ action: 'announce', prepend: 0 })]);
    }
    await g.store.refresh();
    expect(g.store.announcements().map((a) => [a.pop, a.agent, a.action, a.prefixes])).toEqual([
      ['pop1', 'pop1-router', 'announce', ['198.18.0.1/32']],
      ['pop2', 'pop2-router', 'announce', ['198.18.0.1/32']],
    ]);
    const text = await g.agentMetrics(g.lab.pops[0]);
    expect(metricValue(text, 'anyturn_agent_bgp_announced')).toBe(1);
    expect(metricValue(text, 'anyturn_agent_bgp_prepend')).toBe(0);
    expect(metricValue(text, 'anyturn_agent_bgp_eligible_relays')).toBe(2);
    expect(text).toMatch(/anyturn_agent_bgp_decisions_total\{action="announce",pop="pop1"\} 1/);
  });

  it('anyturn agent --once converges BGP once and reports the decision', async () => {
    const pop2 = g.lab.pops[1];
    const { stdout, code } = await sh(process.execPath, [anyturnBin(), 'agent', '--config', g.agentConfigFile(pop2), '--once'], {
      ns: pop2.ns, allowFail: true,
    });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({
      summary: 'once', changes: 0, failed: 0, healthy: ['pop2-r1', 'pop2-r2'],
      bgp: { action: 'announce', prepend: 0, reason: expect.stringMatching(/^2\/2 relays eligible, load 0\.0\d\d$/), applied: true },
    });
    expect((await g.waitRoutes(2)).map((r) => [r.protocol, r.primary])).toEqual([['pop1', true], ['pop2', false]]);
  });

  it('a stopped agent (SIGTERM) leaves BIRD announcing; --teardown withdraws and removes its kernel objects', async () => {
    const [pop1] = g.lab.pops;
    const includeFile = g.bgp.pops[0].includeFile;
    const agent = g.agents.get('pop1')!;
    await agent.stop('SIGTERM');
    expect(agent.child.exitCode).toBe(0);
    expect(agent.lines.join('\n')).toContain('BGP announcement left in place');
    expect(readFileSync(includeFile, 'utf8')).toContain(`route ${g.g}/32 blackhole;`);
    expect((await g.waitRoutes(2)).find((r) => r.primary)?.protocol).toBe('pop1');
    const still = await g.allocate(4);
    expect(still.every((r) => r.ok && g.popOf(r.alternate) === pop1)).toBe(true);

    const session = await g.ispSession(pop1);
    const { stdout, code } = await sh(process.execPath, [anyturnBin(), 'agent', '--config', g.agentConfigFile(pop1), '--teardown'], {
      ns: pop1.ns, allowFail: true,
    });
    expect(code).toBe(0);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({ summary: 'teardown', failed: 0, bgp: { action: 'withdraw', applied: true } });
    expect(summary.changes).toBeGreaterThan(0);
    expect(readFileSync(includeFile, 'utf8')).not.toContain('blackhole');
    expect(await g.waitRoutes(1)).toEqual([expect.objectContaining({ protocol: 'pop2', primary: true })]);
    expect((await g.ispChoice())?.name).toBe('pop2');
    await g.expectSessionKept(pop1, session);
    const rules = await sh('ip', ['-n', pop1.ns, 'rule', 'show']);
    expect(rules.stdout).not.toContain(g.g);
    const announcement = await waitFor('the teardown in the store', async () => {
      await g.store.refresh();
      return g.store.announcements().find((a) => a.pop === 'pop1' && a.action === 'withdraw');
    }, 5_000, 50);
    expect(announcement.reason).toBe('teardown');
  });
});
