import { describe, expect, it } from 'vitest';
import { parseNeighs, parseNexthops, parseRoutes, parseRules } from '../../../router-agent/ip-json.js';

// Captured from iproute2 6.1 (`ip -N -j ...`) on a PoP router of the lab.
describe('iproute2 JSON parsers', () => {
  it('reads neighbours of both families', () => {
    const rows = JSON.parse('[{"dst":"10.9.9.254","lladdr":"FF:ff:ff:ff:ff:ff","state":["PERMANENT"],"protocol":"250"},'
      + '{"dst":"fd00:9:9::fe","lladdr":"ff:ff:ff:ff:ff:ff","state":["PERMANENT"],"protocol":"250"},'
      + '{"dst":"10.9.9.11","lladdr":"6a:11:ed:d7:f8:5d","state":["REACHABLE"]},{"dst":"10.9.9.99","state":["FAILED"]}]');
    expect(parseNeighs(rows)).toEqual([
      { family: 4, dst: '10.9.9.254', lladdr: 'ff:ff:ff:ff:ff:ff', permanent: true, protocol: 250 },
      { family: 6, dst: 'fd00:9:9::fe', lladdr: 'ff:ff:ff:ff:ff:ff', permanent: true, protocol: 250 },
      { family: 4, dst: '10.9.9.11', lladdr: '6a:11:ed:d7:f8:5d', permanent: false, protocol: undefined },
      { family: 4, dst: '10.9.9.99', lladdr: undefined, permanent: false, protocol: undefined },
    ]);
  });

  it('reads rules with numeric ip protocols, prefixes and tables, skipping rules without a destination', () => {
    const rows = JSON.parse('[{"priority":0,"src":"all","table":"255"},'
      + '{"priority":100,"src":"all","dst":"198.18.0.1","ipproto":"ipproto-17","dport":3478,"table":"100","protocol":"250"},'
      + '{"priority":200,"src":"all","dst":"10.0.0.0","dstlen":8,"ipproto":"udp","table":"main"}]');
    expect(parseRules(rows, 4)).toEqual([
      { family: 4, priority: 100, dst: '198.18.0.1/32', ipproto: 17, dport: 3478, table: 100, protocol: 250 },
      { family: 4, priority: 200, dst: '10.0.0.0/8', ipproto: 17, dport: undefined, table: 254, protocol: undefined },
    ]);
  });

  it('reads routes filtered by protocol (main table and protocol left out by iproute2)', () => {
    const v4 = JSON.parse('[{"dst":"198.18.0.1","gateway":"10.9.9.254","dev":"lan","table":"100","flags":["onlink"]},'
      + '{"dst":"198.18.0.1","nhid":1000,"flags":[],"nexthops":[{"gateway":"10.9.9.11","dev":"lan","weight":1,"flags":[]}]},'
      + '{"type":"local","dst":"10.9.9.1","dev":"lan","table":"255"}]');
    expect(parseRoutes(v4, 4, 250)).toEqual([
      { family: 4, table: 100, dst: '198.18.0.1/32', gateway: '10.9.9.254', dev: 'lan', onlink: true, nhid: undefined, metric: undefined, protocol: 250 },
      { family: 4, table: 254, dst: '198.18.0.1/32', gateway: undefined, dev: undefined, onlink: false, nhid: 1000, metric: undefined, protocol: 250 },
    ]);
    const v6 = JSON.parse('[{"dst":"2001:db8::1","gateway":"fd00:9:9::fe","dev":"lan","table":"100","metric":1024,"flags":["onlink"],"pref":"medium"}]');
    expect(parseRoutes(v6, 6, 250)[0]).toMatchObject({ family: 6, dst: '2001:db8::1/128', metric: 1024, onlink: true });
  });

  it('reads nexthops and resilient groups (members sorted)', () => {
    const rows = JSON.parse('[{"id":1000,"group":[{"id":1004},{"id":1002}],"type":"resilient",'
      + '"resilient_args":{"buckets":128,"idle_timer":120,"unbalanced_timer":0,"unbalanced_time":0},"protocol":"250","flags":[]},'
      + '{"id":1002,"gateway":"10.9.9.11","dev":"lan","scope":"253","protocol":"250","flags":[]},'
      + '{"id":5,"group":[{"id":1002,"weight":2}],"flags":[]}]');
    expect(parseNexthops(rows)).toEqual([
      { id: 1000, gateway: undefined, dev: undefined, group: [1002, 1004], type: 'resilient', buckets: 128, protocol: 250 },
      { id: 1002, gateway: '10.9.9.11', dev: 'lan', group: undefined, type: undefined, buckets: undefined, protocol: 250 },
      { id: 5, gateway: undefined, dev: undefined, group: [1002], type: 'mpath', buckets: undefined, protocol: undefined },
    ]);
  });
});
