/**
 * Parsers for iproute2's JSON output read with `-N` (numeric tables, protocols and
 * ip protocols), as printed by iproute2 5.x/6.x. Pure; unknown fields are ignored.
 *
 *   ip -N -j neigh show dev LAN             -> parseNeighs
 *   ip -N -j -4|-6 rule show                -> parseRules
 *   ip -N -j -4|-6 route show table all proto P -> parseRoutes (iproute2 leaves out the
 *                                              filtered `protocol` and the main table)
 *   ip -N -j nexthop list protocol P        -> parseNexthops
 */
import { familyOf, MAIN_TABLE, type Family, type NeighEntry, type NexthopEntry, type RouteEntry, type RuleEntry } from './lan-state.js';

type Json = Record<string, unknown>;

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const m = /^(?:ipproto-)?(\d+)$/.exec(v);
    if (m) return Number(m[1]);
    if (v === 'udp') return 17;
    if (v === 'tcp') return 6;
    if (v === 'main') return MAIN_TABLE;
    if (v === 'local') return 255;
    if (v === 'default') return 253;
  }
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function flags(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((f): f is string => typeof f === 'string') : [];
}

function cidr(dst: string, len: unknown, family: Family): string {
  if (dst.includes('/')) return dst;
  const l = typeof len === 'number' ? len : family === 6 ? 128 : 32;
  return `${dst}/${l}`;
}

export function parseNeighs(rows: Json[]): NeighEntry[] {
  const out: NeighEntry[] = [];
  for (const row of rows) {
    const dst = str(row.dst);
    if (!dst) continue;
    out.push({
      family: familyOf(dst),
      dst,
      lladdr: str(row.lladdr)?.toLowerCase(),
      permanent: flags(row.state).includes('PERMANENT'),
      protocol: num(row.protocol),
    });
  }
  return out;
}

export function parseRules(rows: Json[], family: Family): RuleEntry[] {
  const out: RuleEntry[] = [];
  for (const row of rows) {
    const dst = str(row.dst);
    const src = str(row.src);
    const priority = num(row.priority);
    const table = num(row.table);
    const anyDst = !dst || dst === 'all';
    const anySrc = !src || src === 'all';
    if ((anyDst && anySrc) || priority === undefined || table === undefined) continue;
    out.push({
      family,
      priority,
      dst: anyDst ? undefined : cidr(dst, row.dstlen, family),
      ...(anySrc ? {} : { src: cidr(src, row.srclen, family) }),
      ipproto: num(row.ipproto),
      dport: num(row.dport),
      table,
      protocol: num(row.protocol),
    });
  }
  return out;
}

/** `protocol`: the protocol the dump was filtered by (iproute2 omits the field then). */
export function parseRoutes(rows: Json[], family: Family, protocol?: number): RouteEntry[] {
  const out: RouteEntry[] = [];
  for (const row of rows) {
    const dst = str(row.dst);
    if (!dst || (row.type !== undefined && row.type !== 'unicast')) continue;
    out.push({
      family,
      table: num(row.table) ?? MAIN_TABLE,
      dst: dst === 'default' ? (family === 6 ? '::/0' : '0.0.0.0/0') : cidr(dst, undefined, family),
      gateway: str(row.gateway),
      dev: str(row.dev),
      onlink: flags(row.flags).includes('onlink'),
      nhid: num(row.nhid),
      metric: num(row.metric),
      protocol: num(row.protocol) ?? protocol,
    });
  }
  return out;
}

export function parseNexthops(rows: Json[]): NexthopEntry[] {
  const out: NexthopEntry[] = [];
  for (const row of rows) {
    const id = num(row.id);
    if (id === undefined) continue;
    const group = Array.isArray(row.group)
      ? (row.group as Json[]).map((m) => num(m.id)).filter((m): m is number => m !== undefined).sort((a, b) => a - b)
      : undefined;
    const args = row.resilient_args as Json | undefined;
    const type = row.type === 'resilient' ? 'resilient' : group ? 'mpath' : undefined;
    out.push({
      id,
      gateway: str(row.gateway),
      dev: str(row.dev),
      group,
      type,
      buckets: type === 'resilient' ? num(args?.buckets) : undefined,
      protocol: num(row.protocol),
    });
  }
  return out;
}
