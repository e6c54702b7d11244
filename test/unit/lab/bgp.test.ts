/** The lab's BIRD configs and the `show route all` parser (test/lab/bgp.ts), without BIRD. */
import { describe, expect, it } from 'vitest';
import { bgpLayout, ispBirdConfig, parseShowRouteAll, popBirdConfig } from '../../lab/bgp.js';
import { labLayout } from '../../lab/lab.js';

const SHOW_ROUTE_ALL = `Table master4:
198.18.0.1/32        unicast [pop2 00:39:31.322] * (100) [AS65002i]
	via 10.255.0.6 on pop2
	Type: BGP univ
	BGP.origin: IGP
	BGP.as_path: 65002
	BGP.next_hop: 10.255.0.6
	BGP.med: 20
	BGP.local_pref: 100
                     unicast [pop1 00:39:30.754] (100) [AS65001i]
	via 10.255.0.2 on pop1
	Type: BGP univ
	BGP.origin: IGP
	BGP.as_path: 65001 65001 65001
	BGP.next_hop: 10.255.0.2
	BGP.med: 10
	BGP.local_pref: 100`;

describe('lab BGP', () => {
  it('parses every candidate route with its AS path, MED and whether it is the best', () => {
    expect(parseShowRouteAll(SHOW_ROUTE_ALL)).toEqual([
      { protocol: 'pop2', primary: true, via: '10.255.0.6', asPath: '65002', med: 20 },
      { protocol: 'pop1', primary: false, via: '10.255.0.2', asPath: '65001 65001 65001', med: 10 },
    ]);
    expect(parseShowRouteAll('Table master4:\n')).toEqual([]);
  });

  it('makes pop1 nearer by MED (compared across ASes), never by local preference', () => {
    const lab = labLayout({ prefix: 'atng-unit-', pops: 2, bgp: true });
    const bgp = bgpLayout(lab.stateDir, lab.pops);
    const isp = ispBirdConfig(lab, bgp);
    expect(isp).toContain('med metric yes;');
    expect(isp).toContain('protocol bgp pop1 from pop_peer { neighbor 10.255.0.2 as 65001; ipv4 { import filter { bgp_med = 10; accept; };');
    expect(isp).toContain('protocol bgp pop2v6 from pop_peer { neighbor fd00:255:0:2::2 as 65002; ipv6 { import filter { bgp_med = 20; accept; };');
    expect(isp).not.toContain('local_pref');
    const pop = popBirdConfig(lab.pops[0], bgp.pops[0], bgp.asn);
    expect(pop).toContain(`include "${bgp.pops[0].includeFile}";`);
    expect(pop).toContain('export where anyturn_export();');
    expect(pop).not.toContain('protocol kernel');
  });
});
