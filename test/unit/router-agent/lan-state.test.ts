import { describe, expect, it } from 'vitest';
import { AgentConfigSchema, type AgentConfig } from '../../../src/config/agent-schema.js';
import {
  describeOp, desiredState, diffState, emptyState, lanPlan, opArgs, ownedState, type LanOp, type LanState,
} from '../../../router-agent/lan-state.js';

function config(extra: Record<string, unknown> = {}): AgentConfig {
  return AgentConfigSchema.parse({
    pop: 'pop1',
    'lan-interface': 'lan',
    'broadcast-next-hop': '10.9.9.254',
    anycast: ['198.18.0.1'],
    relays: [
      { id: 'r1', address: '10.9.9.11' },
      { id: 'r2', address: '10.9.9.12' },
      { id: 'r3', address: '10.9.9.13' },
    ],
    ...extra,
  });
}

const ALL = new Set(['r1', 'r2', 'r3']);
const args = (ops: LanOp[]) => ops.map((op) => opArgs(op, 'lan').join(' '));

describe('desiredState', () => {
  it('maps UDP to the broadcast next hop and everything else to a resilient group of the healthy relays', () => {
    const d = desiredState(lanPlan(config()), ALL);
    expect(args(diffState(d, emptyState()))).toEqual([
      '-4 neigh replace 10.9.9.254 lladdr ff:ff:ff:ff:ff:ff dev lan nud permanent protocol 250',
      'nexthop add id 1002 via 10.9.9.11 dev lan protocol 250',
      'nexthop add id 1004 via 10.9.9.12 dev lan protocol 250',
      'nexthop add id 1006 via 10.9.9.13 dev lan protocol 250',
      'nexthop add id 1000 group 1002/1004/1006 type resilient buckets 128 protocol 250',
      '-4 route add 198.18.0.1/32 table 100 via 10.9.9.254 dev lan onlink proto 250',
      '-4 route add 198.18.0.1/32 table 254 nhid 1000 proto 250',
      '-4 rule add pref 100 to 198.18.0.1/32 ipproto 17 dport 3478 lookup 100 protocol 250',
    ]);
  });

  it('keeps the broadcast path but drops the group and its route when no relay is healthy', () => {
    const d = desiredState(lanPlan(config()), new Set());
    expect(d.nexthops.map((n) => n.id)).toEqual([1002, 1004, 1006]);
    expect(d.routes.map((r) => r.table)).toEqual([100]);
    expect(d.rules).toHaveLength(1);
    expect(d.neighs).toHaveLength(1);
  });

  it('adds one rule per anycast address and UDP port, and an IPv6 family with its own group', () => {
    const c = config({
      anycast: ['198.18.0.1', '2001:db8::1'],
      'broadcast-next-hop6': 'fd00:9:9::fe',
      'udp-ports': [3478, 3479],
      relays: [{ id: 'r1', address: '10.9.9.11', address6: 'fd00:9:9::11' }, { id: 'r2', address: '10.9.9.12' }],
    });
    const d = desiredState(lanPlan(c), new Set(['r1', 'r2']));
    expect(d.rules.map((r) => `${r.family} ${r.dst} ${r.dport}`)).toEqual([
      '4 198.18.0.1/32 3478', '4 198.18.0.1/32 3479', '6 2001:db8::1/128 3478', '6 2001:db8::1/128 3479',
    ]);
    const group6 = d.nexthops.find((n) => n.id === 1001);
    expect(group6?.group).toEqual([1003]);
    expect(d.neighs.map((n) => n.dst)).toEqual(['10.9.9.254', 'fd00:9:9::fe']);
    expect(args(diffState({ ...emptyState(), routes: d.routes.filter((r) => r.family === 6) }, emptyState()))).toEqual([
      '-6 route add 2001:db8::1/128 table 100 via fd00:9:9::fe dev lan onlink proto 250',
      '-6 route add 2001:db8::1/128 table 254 nhid 1001 proto 250',
    ]);
  });
});

describe('diffState', () => {
  const plan = lanPlan(config());

  it('is empty when the kernel already holds the desired state', () => {
    const d = desiredState(plan, ALL);
    expect(diffState(d, structuredClone(d))).toEqual([]);
  });

  it('replaces the group in place when a relay becomes unhealthy', () => {
    const before = desiredState(plan, ALL);
    const ops = diffState(desiredState(plan, new Set(['r1', 'r3'])), before);
    expect(args(ops)).toEqual(['nexthop replace id 1000 group 1002/1006 type resilient buckets 128 protocol 250']);
  });

  it('deletes the route before the group when the last relay goes', () => {
    const ops = diffState(desiredState(plan, new Set()), desiredState(plan, ALL));
    expect(args(ops)).toEqual(['-4 route del 198.18.0.1/32 table 254 proto 250', 'nexthop del id 1000']);
  });

  it('rebuilds a group whose bucket count changed, and re-adds the route through it', () => {
    const have = desiredState(plan, ALL);
    const want = desiredState(lanPlan(config({ buckets: 64 })), ALL);
    expect(args(diffState(want, have))).toEqual([
      'nexthop del id 1000',
      'nexthop add id 1000 group 1002/1004/1006 type resilient buckets 64 protocol 250',
      '-4 route replace 198.18.0.1/32 table 254 nhid 1000 proto 250',
    ]);
  });

  it('repairs a neighbour entry that is not permanent broadcast', () => {
    const have = desiredState(plan, ALL);
    have.neighs[0] = { ...have.neighs[0], lladdr: undefined, permanent: false, protocol: undefined };
    expect(args(diffState(desiredState(plan, ALL), have))).toEqual([
      '-4 neigh replace 10.9.9.254 lladdr ff:ff:ff:ff:ff:ff dev lan nud permanent protocol 250',
    ]);
  });

  it('tears down in reverse order: rules, routes, groups, nexthops, neighbour', () => {
    const ops = diffState(emptyState(), desiredState(plan, ALL));
    expect(ops.map(describeOp)).toEqual([
      'del rule pref 100 to 198.18.0.1/32 dport 3478',
      'del route 198.18.0.1/32 table 100',
      'del route 198.18.0.1/32 table 254',
      'del nexthop 1000 group 1002/1004/1006',
      'del nexthop 1002',
      'del nexthop 1004',
      'del nexthop 1006',
      'del neigh 10.9.9.254',
    ]);
    expect(args(ops)[0]).toBe('-4 rule del pref 100 to 198.18.0.1/32 ipproto 17 dport 3478 lookup 100 protocol 250');
    expect(args(ops).at(-1)).toBe('-4 neigh del 10.9.9.254 dev lan');
  });

  it('moves a relay to a new address with a nexthop replace', () => {
    const have = desiredState(plan, ALL);
    const c = config({ relays: [{ id: 'r1', address: '10.9.9.21' }, { id: 'r2', address: '10.9.9.12' }, { id: 'r3', address: '10.9.9.13' }] });
    expect(args(diffState(desiredState(lanPlan(c), ALL), have))).toEqual(['nexthop replace id 1002 via 10.9.9.21 dev lan protocol 250']);
  });
});

describe('ownedState', () => {
  it('keeps only objects with the agent protocol, plus whatever sits on the broadcast next hop', () => {
    const plan = lanPlan(config());
    const mine = desiredState(plan, ALL);
    const actual: LanState = {
      neighs: [
        { family: 4, dst: '10.9.9.254', lladdr: undefined, permanent: false, protocol: undefined },
        { family: 4, dst: '10.9.9.50', lladdr: '00:11:22:33:44:55', permanent: true, protocol: undefined },
      ],
      rules: [...mine.rules, { ...mine.rules[0], priority: 100, protocol: undefined, dport: 53 }],
      routes: [...mine.routes, { ...mine.routes[0], table: 254, protocol: 4, gateway: '10.9.9.99' }],
      nexthops: [...mine.nexthops, { id: 7, gateway: '10.9.9.7', dev: 'lan', group: undefined, type: undefined, buckets: undefined, protocol: undefined }],
    };
    const owned = ownedState(actual, plan, ['10.9.9.254']);
    expect(owned.neighs.map((n) => n.dst)).toEqual(['10.9.9.254']);
    expect(owned.rules).toEqual(mine.rules);
    expect(owned.routes).toEqual(mine.routes);
    expect(owned.nexthops).toEqual(mine.nexthops);
  });
});
