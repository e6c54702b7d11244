/**
 * The PoP router's LAN mapping as data: what the kernel should hold (desired), what it
 * holds (parsed from `ip -N -j ...`), the difference as a list of operations, and each
 * operation as `ip` arguments. Pure functions only; router-agent/lan.ts does the I/O.
 *
 *   UDP to G:port  -> rule (pref P, ipproto udp, dport) -> table T: G via <fake nh> onlink
 *                     -> neighbour <fake nh> = ff:ff:ff:ff:ff:ff: every relay gets the frame
 *   anything else  -> main: G nhid <resilient group of the healthy relays> (L4 hash)
 *   egress         -> rule (pref E, from <relay address>) -> table U: default via <uplink gateway> dev <uplink>
 *                     (per-tenant egress: the relay address a tenant is given decides the uplink)
 */
import { isIP } from 'node:net';
import type { AgentConfig } from '../src/config/agent-schema.js';

export type Family = 4 | 6;
export const BROADCAST_LLADDR = 'ff:ff:ff:ff:ff:ff';
export const MAIN_TABLE = 254;
const UDP = 17;

export interface NeighEntry {
  family: Family;
  dst: string;
  lladdr: string | undefined;
  permanent: boolean;
  protocol: number | undefined;
}
export interface RuleEntry {
  family: Family;
  priority: number;
  /** CIDR; undefined: any destination (an egress rule). */
  dst: string | undefined;
  /** CIDR; undefined: any source. */
  src?: string;
  ipproto: number | undefined;
  dport: number | undefined;
  table: number;
  protocol: number | undefined;
}
export interface RouteEntry {
  family: Family;
  table: number;
  /** CIDR. */
  dst: string;
  gateway: string | undefined;
  dev: string | undefined;
  onlink: boolean;
  nhid: number | undefined;
  metric: number | undefined;
  protocol: number | undefined;
}
export interface NexthopEntry {
  id: number;
  /** Single nexthop: gateway + dev; group: member ids (sorted) + type. */
  gateway: string | undefined;
  dev: string | undefined;
  group: number[] | undefined;
  type: 'mpath' | 'resilient' | undefined;
  buckets: number | undefined;
  protocol: number | undefined;
}
export interface LanState {
  neighs: NeighEntry[];
  rules: RuleEntry[];
  routes: RouteEntry[];
  nexthops: NexthopEntry[];
}

export type LanOp =
  | { kind: 'neigh'; action: 'replace' | 'del'; neigh: NeighEntry }
  | { kind: 'nexthop'; action: 'add' | 'replace' | 'del'; nexthop: NexthopEntry }
  | { kind: 'route'; action: 'add' | 'replace' | 'del'; route: RouteEntry }
  | { kind: 'rule'; action: 'add' | 'del'; rule: RuleEntry };

/** Everything the desired state depends on besides health, derived once from the config. */
export interface LanPlan {
  dev: string;
  protocol: number;
  table: number;
  rulePriority: number;
  buckets: number;
  udpPorts: readonly number[];
  families: FamilyPlan[];
  egress: readonly { family: Family; source: string; via: string; dev: string; table: number }[];
  egressRulePriority: number;
}
export interface FamilyPlan {
  family: Family;
  broadcastNextHop: string;
  anycast: string[];
  groupId: number;
  relays: { id: string; address: string; nexthopId: number }[];
}

export function familyOf(address: string): Family {
  return isIP(address.split('/')[0]) === 6 ? 6 : 4;
}

export function hostCidr(address: string): string {
  return address.includes('/') ? address : `${address}/${familyOf(address) === 6 ? 128 : 32}`;
}

/** Nexthop ids: group v4 = first, group v6 = first+1, relay i: v4 = first+2+2i, v6 = first+3+2i. */
export function lanPlan(config: AgentConfig): LanPlan {
  const first = config.nexthopIdFirst;
  const families: FamilyPlan[] = [];
  const v4 = config.anycast.filter((g) => familyOf(g) === 4);
  const v6 = config.anycast.filter((g) => familyOf(g) === 6);
  if (v4.length > 0) {
    families.push({
      family: 4,
      broadcastNextHop: config.broadcastNextHop,
      anycast: v4,
      groupId: first,
      relays: config.relays.map((r, i) => ({ id: r.id, address: r.address, nexthopId: first + 2 + 2 * i })),
    });
  }
  if (v6.length > 0 && config.broadcastNextHop6 !== undefined) {
    families.push({
      family: 6,
      broadcastNextHop: config.broadcastNextHop6,
      anycast: v6,
      groupId: first + 1,
      relays: config.relays.flatMap((r, i) =>
        r.address6 === undefined ? [] : [{ id: r.id, address: r.address6, nexthopId: first + 3 + 2 * i }],
      ),
    });
  }
  return {
    dev: config.lanInterface,
    protocol: config.protocol,
    table: config.table,
    rulePriority: config.rulePriority,
    buckets: config.buckets,
    udpPorts: config.udpPorts,
    families,
    egress: (config.egress ?? []).map((e) => ({ family: familyOf(e.source), source: hostCidr(e.source), via: e.via, dev: e.dev, table: e.table })),
    egressRulePriority: config.egressRulePriority ?? 200,
  };
}

/** The kernel objects the agent wants, given which relays are healthy. */
export function desiredState(plan: LanPlan, healthy: ReadonlySet<string>): LanState {
  const state: LanState = { neighs: [], rules: [], routes: [], nexthops: [] };
  const p = plan.protocol;
  for (const f of plan.families) {
    state.neighs.push({ family: f.family, dst: f.broadcastNextHop, lladdr: BROADCAST_LLADDR, permanent: true, protocol: p });
    for (const r of f.relays) {
      state.nexthops.push(single(r.nexthopId, r.address, plan.dev, p));
    }
    const members = f.relays.filter((r) => healthy.has(r.id)).map((r) => r.nexthopId);
    if (members.length > 0) {
      state.nexthops.push({
        id: f.groupId, gateway: undefined, dev: undefined, group: [...members].sort((a, b) => a - b),
        type: 'resilient', buckets: plan.buckets, protocol: p,
      });
    }
    for (const g of f.anycast) {
      const dst = hostCidr(g);
      state.routes.push({
        family: f.family, table: plan.table, dst, gateway: f.broadcastNextHop, dev: plan.dev, onlink: true,
        nhid: undefined, metric: undefined, protocol: p,
      });
      if (members.length > 0) {
        state.routes.push({
          family: f.family, table: MAIN_TABLE, dst, gateway: undefined, dev: undefined, onlink: false,
          nhid: f.groupId, metric: undefined, protocol: p,
        });
      }
      for (const port of plan.udpPorts) {
        state.rules.push({ family: f.family, priority: plan.rulePriority, dst, ipproto: UDP, dport: port, table: plan.table, protocol: p });
      }
    }
  }
  for (const e of plan.egress ?? []) {
    state.rules.push({ family: e.family, priority: plan.egressRulePriority, dst: undefined, src: e.source, ipproto: undefined, dport: undefined, table: e.table, protocol: p });
    const dst = e.family === 6 ? '::/0' : '0.0.0.0/0';
    if (!state.routes.some((r) => r.table === e.table && r.dst === dst)) {
      state.routes.push({ family: e.family, table: e.table, dst, gateway: e.via, dev: e.dev, onlink: false, nhid: undefined, metric: undefined, protocol: p });
    }
  }
  return state;
}

/** Nothing: the target of `--teardown`. */
export function emptyState(): LanState {
  return { neighs: [], rules: [], routes: [], nexthops: [] };
}

function single(id: number, gateway: string, dev: string, protocol: number): NexthopEntry {
  return { id, gateway, dev, group: undefined, type: undefined, buckets: undefined, protocol };
}

// ---- which actual objects belong to the agent --------------------------------------

/**
 * The agent's own objects among everything read: anything carrying its protocol number,
 * plus whatever neighbour entry sits on a broadcast next hop (that address is dedicated
 * to the agent; the kernel may have left an INCOMPLETE entry there).
 */
export function ownedState(actual: LanState, plan: LanPlan, fakeNextHops: readonly string[]): LanState {
  const p = plan.protocol;
  return {
    neighs: actual.neighs.filter((n) => n.protocol === p || fakeNextHops.includes(n.dst)),
    rules: actual.rules.filter((r) => r.protocol === p),
    routes: actual.routes.filter((r) => r.protocol === p),
    nexthops: actual.nexthops.filter((n) => n.protocol === p),
  };
}

// ---- diff -----------------------------------------------------------------------------

const neighKey = (n: NeighEntry) => `${n.family} ${n.dst}`;
/** The kernel's route key (IPv6 routes without a metric get 1024). */
const routeKey = (r: RouteEntry) => `${r.family} ${r.table} ${r.dst} ${r.metric ?? (r.family === 6 ? 1024 : 0)}`;
const ruleKey = (r: RuleEntry) =>
  `${r.family} ${r.priority} ${r.src ?? '-'} ${r.dst ?? '-'} ${r.ipproto ?? '-'} ${r.dport ?? '-'} ${r.table} ${r.protocol ?? '-'}`;

function neighEqual(a: NeighEntry, b: NeighEntry): boolean {
  return a.lladdr === b.lladdr && a.permanent === b.permanent && a.protocol === b.protocol;
}
function routeEqual(a: RouteEntry, b: RouteEntry): boolean {
  if (a.nhid !== undefined || b.nhid !== undefined) {
    // iproute2 shows a route through a one-member group with that member's gateway and dev.
    return a.nhid === b.nhid && a.protocol === b.protocol;
  }
  return a.gateway === b.gateway && a.dev === b.dev && a.onlink === b.onlink && a.protocol === b.protocol;
}
function nexthopEqual(a: NexthopEntry, b: NexthopEntry): boolean {
  if (a.protocol !== b.protocol) return false;
  if (a.group || b.group) {
    return a.type === b.type && a.buckets === b.buckets && String(a.group) === String(b.group);
  }
  return a.gateway === b.gateway && a.dev === b.dev;
}
/** A group cannot become a single nexthop (or change type or bucket count) in place. */
function nexthopReplaceable(from: NexthopEntry, to: NexthopEntry): boolean {
  if (Boolean(from.group) !== Boolean(to.group)) return false;
  return !to.group || (from.type === to.type && from.buckets === to.buckets);
}

/**
 * Operations that turn `owned` (the agent's objects now) into `desired`, in an order the
 * kernel accepts: neighbour, nexthops, groups, routes, rules; then deletions in reverse.
 * Objects that are equal produce nothing, so a converged system yields `[]`.
 */
export function diffState(desired: LanState, owned: LanState): LanOp[] {
  const adds: LanOp[] = [];
  const dels: LanOp[] = [];

  const haveNeigh = new Map(owned.neighs.map((n) => [neighKey(n), n]));
  for (const n of desired.neighs) {
    const have = haveNeigh.get(neighKey(n));
    if (!have || !neighEqual(have, n)) adds.push({ kind: 'neigh', action: 'replace', neigh: n });
    haveNeigh.delete(neighKey(n));
  }

  // Nexthops: singles before groups when adding; a group that must be rebuilt is deleted
  // first, which also deletes the routes through it, so those count as missing.
  const haveNh = new Map(owned.nexthops.map((n) => [n.id, n]));
  const rebuilt = new Set<number>();
  const nhAdds: LanOp[] = [];
  const nhDelsFirst: LanOp[] = [];
  const wanted = [...desired.nexthops].sort((a, b) => Number(Boolean(a.group)) - Number(Boolean(b.group)) || a.id - b.id);
  for (const n of wanted) {
    const have = haveNh.get(n.id);
    haveNh.delete(n.id);
    if (!have) nhAdds.push({ kind: 'nexthop', action: 'add', nexthop: n });
    else if (nexthopEqual(have, n)) continue;
    else if (nexthopReplaceable(have, n)) nhAdds.push({ kind: 'nexthop', action: 'replace', nexthop: n });
    else {
      rebuilt.add(n.id);
      nhDelsFirst.push({ kind: 'nexthop', action: 'del', nexthop: have });
      nhAdds.push({ kind: 'nexthop', action: 'add', nexthop: n });
    }
  }

  const haveRoute = new Map(owned.routes.map((r) => [routeKey(r), r]));
  const routeAdds: LanOp[] = [];
  for (const r of desired.routes) {
    const have = haveRoute.get(routeKey(r));
    haveRoute.delete(routeKey(r));
    if (!have) routeAdds.push({ kind: 'route', action: 'add', route: r });
    else if (!routeEqual(have, r) || (have.nhid !== undefined && rebuilt.has(have.nhid))) {
      routeAdds.push({ kind: 'route', action: 'replace', route: r });
    }
  }

  const haveRule = new Map(owned.rules.map((r) => [ruleKey(r), r]));
  const ruleAdds: LanOp[] = [];
  for (const r of desired.rules) {
    if (!haveRule.has(ruleKey(r))) ruleAdds.push({ kind: 'rule', action: 'add', rule: r });
    haveRule.delete(ruleKey(r));
  }

  adds.push(...nhDelsFirst, ...nhAdds, ...routeAdds, ...ruleAdds);

  // Leftovers are the agent's own objects that are no longer wanted.
  for (const rule of haveRule.values()) dels.push({ kind: 'rule', action: 'del', rule });
  for (const route of haveRoute.values()) dels.push({ kind: 'route', action: 'del', route });
  const leftoverNh = [...haveNh.values()].sort((a, b) => Number(Boolean(b.group)) - Number(Boolean(a.group)) || a.id - b.id);
  for (const nexthop of leftoverNh) dels.push({ kind: 'nexthop', action: 'del', nexthop });
  for (const neigh of haveNeigh.values()) dels.push({ kind: 'neigh', action: 'del', neigh });
  return [...adds, ...dels];
}

// ---- operations as `ip` arguments -----------------------------------------------------

/** `ip` argv for one operation (without the leading `ip`). */
export function opArgs(op: LanOp, dev: string): string[] {
  switch (op.kind) {
    case 'neigh': {
      const n = op.neigh;
      const fam = `-${n.family}`;
      if (op.action === 'del') return [fam, 'neigh', 'del', n.dst, 'dev', dev];
      return [fam, 'neigh', 'replace', n.dst, 'lladdr', n.lladdr ?? BROADCAST_LLADDR, 'dev', dev, 'nud', 'permanent',
        ...(n.protocol === undefined ? [] : ['protocol', String(n.protocol)])];
    }
    case 'nexthop': {
      const n = op.nexthop;
      if (op.action === 'del') return ['nexthop', 'del', 'id', String(n.id)];
      const body = n.group
        ? ['group', n.group.join('/'), ...(n.type === 'resilient' ? ['type', 'resilient', 'buckets', String(n.buckets)] : [])]
        : ['via', n.gateway ?? '', 'dev', n.dev ?? dev];
      return ['nexthop', op.action, 'id', String(n.id), ...body, ...(n.protocol === undefined ? [] : ['protocol', String(n.protocol)])];
    }
    case 'route': {
      const r = op.route;
      const head = [`-${r.family}`, 'route', op.action, r.dst, 'table', String(r.table)];
      const metric = r.metric === undefined ? [] : ['metric', String(r.metric)];
      if (op.action === 'del') return [...head, ...metric, ...(r.protocol === undefined ? [] : ['proto', String(r.protocol)])];
      const via = r.nhid !== undefined
        ? ['nhid', String(r.nhid)]
        : [...(r.gateway ? ['via', r.gateway] : []), 'dev', r.dev ?? dev, ...(r.onlink ? ['onlink'] : [])];
      return [...head, ...via, ...metric, ...(r.protocol === undefined ? [] : ['proto', String(r.protocol)])];
    }
    case 'rule': {
      const r = op.rule;
      return [`-${r.family}`, 'rule', op.action, 'pref', String(r.priority),
        ...(r.src === undefined ? [] : ['from', r.src]),
        ...(r.dst === undefined ? [] : ['to', r.dst]),
        ...(r.ipproto === undefined ? [] : ['ipproto', String(r.ipproto)]),
        ...(r.dport === undefined ? [] : ['dport', String(r.dport)]),
        'lookup', String(r.table),
        ...(r.protocol === undefined ? [] : ['protocol', String(r.protocol)])];
    }
  }
}

/** A one-line description for logs: `add route 198.18.0.1/32 table 100`. */
export function describeOp(op: LanOp): string {
  switch (op.kind) {
    case 'neigh': return `${op.action} neigh ${op.neigh.dst}`;
    case 'nexthop': return `${op.action} nexthop ${op.nexthop.id}${op.nexthop.group ? ` group ${op.nexthop.group.join('/')}` : ''}`;
    case 'route': return `${op.action} route ${op.route.dst} table ${op.route.table}`;
    case 'rule': return `${op.action} rule pref ${op.rule.priority}${op.rule.src ? ` from ${op.rule.src}` : ''} to ${op.rule.dst ?? 'all'} dport ${op.rule.dport ?? '-'}`;
  }
}
