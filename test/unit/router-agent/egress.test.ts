/**
 * Per-tenant egress in the router agent: for each uplink, a rule `from <relay address> lookup <table>` and the
 * table's default route via the uplink's gateway; converged state yields no operations; teardown removes them;
 * iproute2's JSON for such a rule reads back as the same rule.
 */
import { describe, expect, it } from 'vitest';
import { AgentConfigSchema, type AgentConfig } from '../../../src/config/agent-schema.js';
import { parseRoutes, parseRules } from '../../../router-agent/ip-json.js';
import { desiredState, diffState, emptyState, lanPlan, opArgs, type LanOp } from '../../../router-agent/lan-state.js';

function config(extra: Record<string, unknown> = {}): AgentConfig {
  return AgentConfigSchema.parse({
    pop: 'pop1', 'lan-interface': 'lan', 'broadcast-next-hop': '10.9.9.254', anycast: ['198.18.0.1'],
    relays: [{ id: 'r1', address: '10.9.9.11' }],
    egress: [
      { source: '10.9.9.21', via: '10.255.1.1', dev: 'up1', table: 201 },
      { source: '10.9.9.11/32', via: '10.255.0.1', dev: 'up0', table: 202 },
    ],
    ...extra,
  });
}
const args = (ops: LanOp[]) => ops.map((op) => opArgs(op, 'lan').join(' '));

describe('agent egress', () => {
  it('installs a source rule and a default route per uplink, and nothing more once converged', () => {
    const want = desiredState(lanPlan(config()), new Set(['r1']));
    const ops = args(diffState(want, emptyState()));
    expect(ops).toContain('-4 route add 0.0.0.0/0 table 201 via 10.255.1.1 dev up1 proto 250');
    expect(ops).toContain('-4 route add 0.0.0.0/0 table 202 via 10.255.0.1 dev up0 proto 250');
    expect(ops).toContain('-4 rule add pref 200 from 10.9.9.21/32 lookup 201 protocol 250');
    expect(ops).toContain('-4 rule add pref 200 from 10.9.9.11/32 lookup 202 protocol 250');
    expect(diffState(want, want)).toEqual([]);
    expect(args(diffState(emptyState(), want))).toContain('-4 rule del pref 200 from 10.9.9.21/32 lookup 201 protocol 250');
  });

  it('reads its rules and routes back from iproute2 JSON as the same objects', () => {
    const want = desiredState(lanPlan(config()), new Set(['r1']));
    const rules = parseRules([
      { priority: 200, src: '10.9.9.21', srclen: 32, table: '201', protocol: '250' },
      { priority: 200, src: '10.9.9.11', srclen: 32, table: '202', protocol: '250' },
      { priority: 100, dst: '198.18.0.1', ipproto: 'udp', dport: 3478, table: '100', protocol: '250' },
      { priority: 0, src: 'all', table: 'local' },
    ].map((r) => ({ ...r, table: Number(r.table) || r.table, protocol: Number(r.protocol) || undefined, ipproto: r.ipproto ? 17 : undefined })), 4);
    expect(rules.filter((r) => r.src !== undefined)).toEqual(want.rules.filter((r) => r.src !== undefined));
    const routes = parseRoutes([{ dst: 'default', gateway: '10.255.1.1', dev: 'up1', table: 201, protocol: 250, flags: [] }], 4);
    expect(routes[0]).toEqual(want.routes.find((r) => r.table === 201));
  });

  it('refuses an uplink table that is the broadcast table, and mixed families', () => {
    expect(() => config({ egress: [{ source: '10.9.9.21', via: '10.255.1.1', dev: 'up1', table: 100 }] })).toThrow(/must differ from table/);
    expect(() => config({ egress: [{ source: '10.9.9.21', via: 'fd00::1', dev: 'up1', table: 201 }] })).toThrow(/family of source/);
  });
});
