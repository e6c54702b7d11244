/** Reads a router namespace's routing state with `ip -j` for the agent tests. */
import { ipJson, sh } from '../../lab/netns.js';

export interface KernelDump {
  routes: unknown[];
  rules: unknown[];
  nexthops: unknown[];
}

/** Routes (all tables, both families, no link-local noise), rules and nexthops, as iproute2 prints them. */
export async function dumpRouting(ns: string): Promise<KernelDump> {
  const [r4, r6, rules4, rules6, nexthops] = await Promise.all([
    ipJson(ns, ['-4', 'route', 'show', 'table', 'all']),
    ipJson(ns, ['-6', 'route', 'show', 'table', 'all']),
    ipJson(ns, ['-4', 'rule', 'show']),
    ipJson(ns, ['-6', 'rule', 'show']),
    ipJson(ns, ['nexthop', 'show']),
  ]);
  const routes = [...r4, ...r6].filter((r) => !String(r.dst).startsWith('fe80') && r.type !== 'multicast');
  return { routes, rules: [...rules4, ...rules6], nexthops };
}

export async function neighbour(ns: string, dev: string, dst: string): Promise<Record<string, unknown> | undefined> {
  return (await ipJson(ns, ['neigh', 'show', 'dev', dev])).find((n) => n.dst === dst);
}

/** Member ids of a nexthop group, sorted; undefined when the group does not exist. */
export async function groupMembers(ns: string, id: number): Promise<number[] | undefined> {
  const { stdout, code } = await sh('ip', ['-n', ns, '-j', 'nexthop', 'show', 'id', String(id)], { allowFail: true });
  if (code !== 0 || stdout.trim() === '') return undefined;
  const [nh] = JSON.parse(stdout) as { group?: { id: number }[] }[];
  return nh.group?.map((m) => m.id).sort((a, b) => a - b);
}

/** The agent's objects in a dump (protocol 250 or its nexthop id range 1000-1999). */
export function agentObjects(d: KernelDump): KernelDump {
  const mine = (o: unknown) => {
    const r = o as Record<string, unknown>;
    return r.protocol === '250' || (typeof r.id === 'number' && r.id >= 1000 && r.id <= 1999);
  };
  return { routes: d.routes.filter(mine), rules: d.rules.filter(mine), nexthops: d.nexthops.filter(mine) };
}

export async function sysctlIn(ns: string, key: string): Promise<string> {
  return (await sh('sysctl', ['-n', key], { ns })).stdout.trim();
}
