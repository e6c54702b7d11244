/**
 * `anyturn-lab up --pops 2`: the global lab from the command line (BIRD in the ISP and
 * both PoP routers, redis-server, two relays per PoP, agents with a `bgp:` section), and
 * `lab down` leaves nothing behind (namespaces, BIRD, redis-server, the state directory).
 */
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ispRoutes, ispSessions } from '../../lab/bgp.js';
import { labDown, labLayout, labNamespaces, labStatus } from '../../lab/lab.js';
import { listNamespaces, processAlive, randomPrefix, sh } from '../../lab/netns.js';
import { anyturnBin, labBin } from '../../lab/proc.js';
import { redisPing } from '../../lab/redis.js';

const PREFIX = randomPrefix('atng-cli');

afterAll(async () => {
  await labDown(PREFIX);
});

function anyturn(...args: string[]) {
  return sh(process.execPath, [anyturnBin(), ...args], { allowFail: true, timeoutMs: 90_000 });
}

function labCli(...args: string[]) {
  return sh(process.execPath, [labBin(), ...args], { allowFail: true, timeoutMs: 90_000 });
}

describe('anyturn-lab up --pops 2', () => {
  it('builds the BGP lab with redis; the agents announce G from both PoPs; down removes everything', async () => {
    const up = await labCli('up', '--prefix', PREFIX, '--pops', '2', '--relays', 'stub', '--agent', '--ipv6');
    expect(up.stderr).toBe('');
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('BIRD AS 65001 (ISP MED 10)');
    expect(up.stdout).toContain('redis://10.254.0.2:6379');

    const lab = labLayout({ prefix: PREFIX, pops: 2, relaysPerPop: 2, bgp: true, redis: true });
    expect((await listNamespaces(PREFIX)).sort()).toEqual(labNamespaces(lab).sort());
    expect(await redisPing(lab.redis!)).toBe(true);
    const sessions = await ispSessions(lab.bgp!);
    expect(sessions.map((s) => [s.name, s.info])).toEqual([
      ['pop1', 'Established'], ['pop1v6', 'Established'], ['pop2', 'Established'], ['pop2v6', 'Established'],
    ]);
    // The stand-in relays answer the agents' probes: both PoPs announce, pop1 (MED 10) is preferred.
    const routes = await ispRoutes(lab.bgp!, lab.anycast);
    expect(routes.map((r) => [r.protocol, r.primary])).toEqual([['pop1', true], ['pop2', false]]);
    // --ipv6: the agents announce G6 too, over the IPv6 sessions.
    const routes6 = await ispRoutes(lab.bgp!, lab.anycast6);
    expect(routes6.map((r) => [r.protocol, r.primary, r.via])).toEqual([
      ['pop1v6', true, lab.pops[0].uplinkAddress6], ['pop2v6', false, lab.pops[1].uplinkAddress6],
    ]);

    const status = await anyturn('status', '--redis', lab.redis!.localUrl, '--json');
    expect(status.code).toBe(0);
    const view = JSON.parse(status.stdout) as { pops: { pop: string; announcements: { action: string }[] }[] };
    expect(view.pops.map((p) => [p.pop, p.announcements.map((a) => a.action)])).toEqual([['pop1', ['announce']], ['pop2', ['announce']]]);

    const pids = (await labStatus(PREFIX)).flatMap((s) => s.processes.map((p) => p.pid));
    expect(pids.length).toBeGreaterThanOrEqual(4 + 2 + 3 + 1); // relays, agents, BIRD ×3, redis-server
    const down = await labCli('down', '--prefix', PREFIX);
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('removed 10 namespaces');
    expect(await listNamespaces(PREFIX)).toEqual([]);
    expect(pids.filter(processAlive)).toEqual([]);
    expect(existsSync(lab.stateDir)).toBe(false);
  });
});
