/**
 * The router agent against the real kernel of a lab PoP router: converge, idempotence,
 * teardown that spares the operator's own objects, restart after SIGKILL, netlink-driven
 * repair, and relay health moving relays in and out of the TCP nexthop group.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigYaml, labDown, labUp, type Lab, type LabPop } from '../../lab/lab.js';
import { namespacePids, randomPrefix, sh, waitFor } from '../../lab/netns.js';
import { startAnyturn, startStunResponder, type LabProcess } from '../../lab/proc.js';
import { agentObjects, dumpRouting, groupMembers, neighbour, sysctlIn, type KernelDump } from './kernel.js';

const PREFIX = randomPrefix('atnl-ag');
const GROUP = 1000;
const NH = { r1: 1002, r2: 1004, r3: 1006 };

let lab: Lab;
let pop: LabPop;
let dir: string;
let config: string;
let quietConfig: string;
const responders = new Map<string, LabProcess>();
const processes: LabProcess[] = [];
let operatorBaseline: KernelDump;

interface Summary {
  summary: string;
  changes: number;
  failed: number;
  ops: string[];
  errors: string[];
  healthy: string[];
}

/** `anyturn agent --once` or `--teardown`: exit code and the summary line. */
async function agentOnce(action: '--once' | '--teardown' = '--once'): Promise<{ code: number | null; summary: Summary }> {
  const p = startAnyturn(pop.ns, `agent ${action}`, ['agent', '--config', config, '--log-level', 'warn', action]);
  processes.push(p);
  const code = await p.exit();
  const summary = p.events.find((e) => typeof e.summary === 'string') as Summary | undefined;
  if (!summary) throw new Error(`no summary from the agent (exit ${code}): ${p.stderr}`);
  return { code, summary };
}

function startDaemon(file = config): LabProcess {
  const p = startAnyturn(pop.ns, 'agent', ['agent', '--config', file]);
  processes.push(p);
  return p;
}

async function startResponder(relay: LabPop['relays'][number]): Promise<void> {
  const p = await startStunResponder(relay.ns, relay.id, { udp: [`${relay.address}:3478`] });
  responders.set(relay.id, p);
  processes.push(p);
}

/** The converged state with all three relays healthy. */
async function converged(): Promise<boolean | undefined> {
  const members = await groupMembers(pop.ns, GROUP);
  const n = await neighbour(pop.ns, pop.lanDev, pop.broadcastNextHop);
  const rules = (await sh('ip', ['-n', pop.ns, 'rule', 'show', 'pref', '100'])).stdout;
  const table = (await sh('ip', ['-n', pop.ns, 'route', 'show', 'table', '100'])).stdout;
  return (String(members) === String([NH.r1, NH.r2, NH.r3]) && n?.lladdr === 'ff:ff:ff:ff:ff:ff'
    && rules.includes('dport 3478') && table.includes(lab.anycast)) || undefined;
}

beforeAll(async () => {
  lab = await labUp({ prefix: PREFIX });
  pop = lab.pops[0];
  dir = mkdtempSync(join(tmpdir(), 'atnl-agent-'));
  config = join(dir, 'agent.yaml');
  writeFileSync(config, agentConfigYaml(lab, pop, { healthInterval: 100, healthTimeout: 80, healthFailures: 2 }));
  // Only netlink events (and health) can trigger a pass in this one: the timer is far away.
  quietConfig = join(dir, 'agent-quiet.yaml');
  writeFileSync(quietConfig, agentConfigYaml(lab, pop, { healthInterval: 100, healthTimeout: 80, healthFailures: 2, reconcileInterval: 600_000 }));
  await Promise.all(pop.relays.map((r) => startResponder(r)));

  // The operator's own objects, some deliberately close to the agent's marks.
  const ns = pop.ns;
  await sh('ip', ['-n', ns, 'route', 'add', '203.0.113.0/24', 'via', '10.9.9.50', 'dev', 'lan']);
  await sh('ip', ['-n', ns, 'route', 'add', '192.0.2.0/24', 'via', '10.9.9.50', 'dev', 'lan', 'table', '100']);
  await sh('ip', ['-n', ns, 'rule', 'add', 'pref', '100', 'to', '203.0.113.7', 'lookup', 'main']);
  await sh('ip', ['-n', ns, 'rule', 'add', 'pref', '200', 'to', '198.18.0.0/15', 'lookup', 'main']);
  await sh('ip', ['-n', ns, 'nexthop', 'add', 'id', '7', 'via', '10.9.9.50', 'dev', 'lan']);
  operatorBaseline = await dumpRouting(ns);
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  if (lab) await labDown(PREFIX);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('anyturn agent (LAN side)', () => {
  it('converges: broadcast neighbour, UDP rule and table, resilient group of the healthy relays', async () => {
    const { code, summary } = await agentOnce();
    expect(code).toBe(0);
    expect(summary.failed).toBe(0);
    expect(summary.changes).toBeGreaterThanOrEqual(9);
    expect(summary.healthy.sort()).toEqual(pop.relays.map((r) => r.id));

    const ns = pop.ns;
    expect(await neighbour(ns, 'lan', pop.broadcastNextHop)).toMatchObject({ lladdr: 'ff:ff:ff:ff:ff:ff', state: ['PERMANENT'], protocol: '250' });
    const d = agentObjects(await dumpRouting(ns));
    expect(d.rules).toEqual([{ priority: 100, src: 'all', dst: lab.anycast, ipproto: 'udp', dport: 3478, table: '100', protocol: '250' }]);
    expect(d.routes).toEqual(expect.arrayContaining([
      expect.objectContaining({ dst: lab.anycast, table: '100', gateway: pop.broadcastNextHop, dev: 'lan', flags: ['onlink'] }),
      expect.objectContaining({ dst: lab.anycast, nhid: GROUP }),
    ]));
    expect(d.routes).toHaveLength(2);
    expect(d.nexthops).toEqual(expect.arrayContaining([
      expect.objectContaining({ id: GROUP, type: 'resilient', group: [{ id: NH.r1 }, { id: NH.r2 }, { id: NH.r3 }] }),
      ...pop.relays.map((r, i) => expect.objectContaining({ id: NH.r1 + 2 * i, gateway: r.address, dev: 'lan' })),
    ]));
    expect(d.nexthops).toHaveLength(4);
    expect(await sysctlIn(ns, 'net.ipv4.fib_multipath_hash_policy')).toBe('1');
  });

  it('is idempotent: a second run applies nothing and the kernel dump is unchanged', async () => {
    const before = await dumpRouting(pop.ns);
    const { code, summary } = await agentOnce();
    expect(code).toBe(0);
    expect(summary).toMatchObject({ changes: 0, failed: 0, ops: [] });
    expect(await dumpRouting(pop.ns)).toEqual(before);
  });

  it('repairs what was changed behind its back after a SIGKILL, on restart', async () => {
    const good = await dumpRouting(pop.ns);
    const daemon = startDaemon();
    await waitFor('daemon converged', converged, 10_000);
    const monitors = async () => (await namespacePids(pop.ns)).filter((pid) => pid !== daemon.child.pid);
    await waitFor('the agent\'s ip monitor', async () => ((await monitors()).length === 1) || undefined, 5_000);
    daemon.child.kill('SIGKILL');
    await daemon.exit();
    // The monitor dies with the agent (parent-death signal): a crash leaves no orphan behind.
    const left = async (): Promise<string> => {
      const pids = await monitors();
      const lines = await Promise.all(pids.map(async (pid) => `${pid}: ${(await sh('ps', ['-o', 'stat=,args=', '-p', String(pid)], { allowFail: true })).stdout.trim()}`));
      return lines.join('; ');
    };
    await waitFor('no orphan ip monitor', async () => ((await monitors()).length === 0) || undefined, 10_000).catch(async (err: Error) => {
      throw new Error(`${err.message}; still in the namespace: ${await left()}`);
    });

    const ns = pop.ns;
    await sh('ip', ['-n', ns, 'neigh', 'del', pop.broadcastNextHop, 'dev', 'lan']);
    await sh('ip', ['-n', ns, 'rule', 'del', 'pref', '100', 'to', lab.anycast, 'ipproto', 'udp', 'dport', '3478', 'lookup', '100']);
    await sh('ip', ['-n', ns, 'route', 'del', `${lab.anycast}/32`, 'table', '100']);
    await sh('ip', ['-n', ns, 'nexthop', 'del', 'id', String(NH.r2)]);
    expect(await converged()).toBeUndefined();

    const again = startDaemon();
    await waitFor('restarted daemon converged', converged, 10_000);
    expect(await dumpRouting(ns)).toEqual(good);
    await again.stop('SIGTERM');
    expect(await again.exit()).toBe(0);
    // Stopping leaves the state in place: traffic keeps flowing without the agent.
    expect(await dumpRouting(ns)).toEqual(good);
  });

  it('repairs a deleted rule from a netlink event, without waiting for its timer', async () => {
    const daemon = startDaemon(quietConfig);
    await waitFor('daemon converged', converged, 10_000);
    await sh('ip', ['-n', pop.ns, 'rule', 'del', 'pref', '100', 'to', lab.anycast, 'ipproto', 'udp', 'dport', '3478', 'lookup', '100']);
    await waitFor('rule restored', async () => (await sh('ip', ['-n', pop.ns, 'rule', 'show', 'pref', '100'])).stdout.includes('dport 3478') || undefined, 5_000);
    await daemon.stop('SIGTERM');
  });

  it('takes an unhealthy relay out of the TCP group, and removes group and route when none is healthy', async () => {
    const daemon = startDaemon();
    await waitFor('daemon converged', converged, 10_000);
    const [r1, r2, r3] = pop.relays;

    await responders.get(r2.id)!.stop();
    await waitFor('r2 out of the group', async () => String(await groupMembers(pop.ns, GROUP)) === String([NH.r1, NH.r3]) || undefined, 5_000);
    await startResponder(r2);
    await waitFor('r2 back in the group', async () => String(await groupMembers(pop.ns, GROUP)) === String([NH.r1, NH.r2, NH.r3]) || undefined, 5_000);

    await Promise.all([r1, r2, r3].map((r) => responders.get(r.id)!.stop()));
    await waitFor('group gone', async () => (await groupMembers(pop.ns, GROUP)) === undefined || undefined, 5_000);
    const d = agentObjects(await dumpRouting(pop.ns));
    expect(d.routes).toEqual([expect.objectContaining({ dst: lab.anycast, table: '100', gateway: pop.broadcastNextHop })]);
    expect(d.rules).toHaveLength(1);
    expect(d.nexthops.map((n) => (n as { id: number }).id).sort()).toEqual([NH.r1, NH.r2, NH.r3]);

    await Promise.all([r1, r2, r3].map((r) => startResponder(r)));
    await waitFor('daemon converged again', converged, 10_000);
    await daemon.stop('SIGTERM');
  });

  it('--teardown removes exactly its own objects and leaves the operator\'s in place', async () => {
    const { code, summary } = await agentOnce('--teardown');
    expect(code).toBe(0);
    expect(summary).toMatchObject({ summary: 'teardown', failed: 0 });
    expect(summary.changes).toBe(8);
    expect(await dumpRouting(pop.ns)).toEqual(operatorBaseline);
    expect(await neighbour(pop.ns, 'lan', pop.broadcastNextHop)).toBeUndefined();

    const second = await agentOnce('--teardown');
    expect(second.summary.changes).toBe(0);
  });

  it('never replaces an operator\'s route that holds the same key: the add fails, is reported, and the route stays', async () => {
    const ns = pop.ns;
    await sh('ip', ['-n', ns, 'route', 'add', `${lab.anycast}/32`, 'via', '10.9.9.50', 'dev', 'lan']);
    const operator = (await dumpRouting(ns)).routes.find((r) => (r as { dst: string }).dst === lab.anycast);
    const { code, summary } = await agentOnce();
    expect(code).toBe(1);
    expect(summary.failed).toBe(1);
    expect(summary.ops).toContain(`FAILED add route ${lab.anycast}/32 table 254`);
    expect(summary.errors[0]).toMatch(/File exists/);
    const routes = (await dumpRouting(ns)).routes.filter((r) => (r as { dst: string }).dst === lab.anycast);
    expect(routes).toContainEqual(operator);
    expect(routes).toContainEqual(expect.objectContaining({ table: '100', protocol: '250' }));

    const { code: down } = await agentOnce('--teardown');
    expect(down).toBe(0);
    expect((await dumpRouting(ns)).routes.filter((r) => (r as { dst: string }).dst === lab.anycast)).toEqual([operator]);
    await sh('ip', ['-n', ns, 'route', 'del', `${lab.anycast}/32`, 'via', '10.9.9.50', 'dev', 'lan']);
    expect(await dumpRouting(ns)).toEqual(operatorBaseline);
  });
});
