/**
 * BgpDriver against real BIRD 2: two namespaces joined by a veth, an eBGP session
 * between a "PoP router" (AS 65001, driven by the agent's BgpDriver) and an "ISP"
 * router (AS 65002, kernel export on). Announce, prepend, withdraw, announce again,
 * all through soft reconfiguration: the session's since-time must never change.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { BgpDriver, parseShowProtocols, runBirdc, type BirdProtocolStatus } from '../../../router-agent/bird.js';
import {
  addAddress,
  addNamespace,
  addVeth,
  deleteNamespace,
  ipJson,
  randomPrefix,
  spawnIn,
  stopChild,
  waitFor,
  type ChildProcess,
} from '../../lab/netns.js';

const POP = `${randomPrefix('atnb')}pop`;
const ISP = `${randomPrefix('atnb')}isp`;
const PREFIX = '198.18.0.1/32';
const dir = mkdtempSync(join(tmpdir(), 'atnb-'));
const popSock = join(dir, 'pop.ctl');
const ispSock = join(dir, 'isp.ctl');
const includeFile = join(dir, 'anyturn.conf');
const children: ChildProcess[] = [];
let driver: BgpDriver;

const popConf = `
router id 10.250.0.1;
timeformat protocol iso long ms;
protocol device {}
include "${includeFile}";
protocol bgp isp {
  local 10.250.0.1 as 65001;
  neighbor 10.250.0.2 as 65002;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import none; export where anyturn_export(); };
}
`;
const ispConf = `
router id 10.250.0.2;
timeformat protocol iso long ms;
protocol device {}
protocol kernel { ipv4 { import none; export all; }; }
protocol bgp pop {
  local 10.250.0.2 as 65002;
  neighbor 10.250.0.1 as 65001;
  connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 { import all; export none; };
}
`;

function startBird(ns: string, conf: string, sock: string): void {
  const file = join(dir, `${ns}.conf`);
  writeFileSync(file, conf);
  const child = spawnIn(ns, 'bird', ['-f', '-c', file, '-s', sock, '-P', join(dir, `${ns}.pid`)], { stdio: 'ignore' });
  children.push(child);
}

async function bgpSession(sock: string, name: string): Promise<BirdProtocolStatus | undefined> {
  const rows = parseShowProtocols(await runBirdc('birdc', sock, ['show', 'protocols', name], 5000));
  return rows.find((r) => r.name === name);
}

/** The anycast route in the ISP's kernel table (installed by BIRD), if any. */
async function ispKernelRoute(): Promise<{ dst: string; gateway?: string; protocol?: string } | undefined> {
  const routes = await ipJson<{ dst: string; gateway?: string; protocol?: string }>(ISP, ['route', 'show']);
  return routes.find((r) => r.dst === PREFIX.replace('/32', '') && r.protocol === 'bird');
}

async function ispAsPath(): Promise<string | undefined> {
  let text: string;
  try {
    text = await runBirdc('birdc', ispSock, ['show', 'route', 'all', PREFIX], 5000);
  } catch (err) {
    if (/Network not found/.test((err as Error).message)) return undefined;
    throw err;
  }
  return /BGP\.as_path:\s*(.*)/.exec(text)?.[1]?.trim();
}

/**
 * `timeformat protocol iso long ms` -> ms. BIRD prints wall time derived from its
 * monotonic clock at each query, so the same instant may print ±1 ms apart; a session
 * reset moves it by at least the error wait / connect delay (>= 1 s here).
 */
function sinceMs(since: string): number {
  const ms = Date.parse(since.replace(' ', 'T'));
  if (!Number.isFinite(ms)) throw new Error(`unexpected since format '${since}'`);
  return ms;
}

describe('BgpDriver with BIRD 2 over a veth', () => {
  let since: { pop: string; isp: string };

  beforeAll(async () => {
    await addNamespace(POP);
    await addNamespace(ISP);
    await addVeth({ ns: POP, name: 'atnb-pop0' }, { ns: ISP, name: 'atnb-isp0' });
    await addAddress(POP, 'atnb-pop0', '10.250.0.1/30');
    await addAddress(ISP, 'atnb-isp0', '10.250.0.2/30');
    driver = new BgpDriver({ birdctlSocket: popSock, includeFile, prefixes: [PREFIX], prependAs: 65001, log: silentLogger() });
    // The operator's bird.conf includes the file: it exists before BIRD starts (withdrawn).
    writeFileSync(includeFile, driver.render({ action: 'withdraw', prepend: 0 }));
    startBird(POP, popConf, popSock);
    startBird(ISP, ispConf, ispSock);
    const pop = await waitFor('PoP session Established', async () => {
      const s = await bgpSession(popSock, 'isp');
      return s?.info === 'Established' ? s : undefined;
    }, 30_000);
    const isp = await waitFor('ISP session Established', async () => {
      const s = await bgpSession(ispSock, 'pop');
      return s?.info === 'Established' ? s : undefined;
    }, 30_000);
    since = { pop: pop.since, isp: isp.since };
  });

  afterAll(async () => {
    driver?.close();
    await Promise.all(children.map((c) => stopChild(c)));
    await deleteNamespace(POP);
    await deleteNamespace(ISP);
    rmSync(dir, { recursive: true, force: true });
  });

  async function expectSessionUntouched(): Promise<void> {
    const pop = await bgpSession(popSock, 'isp');
    const isp = await bgpSession(ispSock, 'pop');
    expect(pop).toMatchObject({ state: 'up', info: 'Established' });
    expect(isp).toMatchObject({ state: 'up', info: 'Established' });
    expect(Math.abs(sinceMs(pop!.since) - sinceMs(since.pop))).toBeLessThanOrEqual(50);
    expect(Math.abs(sinceMs(isp!.since) - sinceMs(since.isp))).toBeLessThanOrEqual(50);
  }

  it('announces: the ISP learns the prefix and installs it in its kernel table', async () => {
    expect(await ispKernelRoute()).toBeUndefined();
    const announced: unknown[] = [];
    driver.on('announced', (d) => announced.push(d));
    expect(await driver.apply({ action: 'announce', prepend: 0, reason: 'test' })).toBe('reconfigured');
    const route = await waitFor('the route in the ISP kernel table', ispKernelRoute, 10_000, 10);
    expect(route.gateway).toBe('10.250.0.1');
    expect(await ispAsPath()).toBe('65001');
    expect(announced).toHaveLength(1);
    expect(driver.current).toEqual({ action: 'announce', prepend: 0 });
    expect(await driver.apply({ action: 'announce', prepend: 0 })).toBe('unchanged');
    const protocols = await driver.protocols();
    expect(protocols.find((p) => p.name === 'anyturn_anycast4')).toMatchObject({ proto: 'Static', state: 'up' });
    await expectSessionUntouched();
  });

  it('prepends 2: the ISP sees the longer AS path, the session stays up', async () => {
    expect(await driver.apply({ action: 'announce', prepend: 2, reason: 'load 0.7' })).toBe('reconfigured');
    await waitFor('the prepended path at the ISP', async () => (await ispAsPath()) === '65001 65001 65001', 10_000, 10);
    expect(readFileSync(includeFile, 'utf8')).toContain('bgp_path.prepend(65001);');
    await expectSessionUntouched();
    // and back to no prepend, still without a reset
    await driver.apply({ action: 'announce', prepend: 0 });
    await waitFor('the plain path again', async () => (await ispAsPath()) === '65001', 10_000, 10);
    await expectSessionUntouched();
  });

  it('withdraws: the route leaves the ISP kernel table (time measured)', async () => {
    const withdrawn: unknown[] = [];
    driver.on('withdrawn', (d) => withdrawn.push(d));
    const t0 = performance.now();
    await driver.apply({ action: 'withdraw', prepend: 0, reason: 'no healthy relay' });
    const applied = performance.now() - t0;
    await waitFor('the route to leave the ISP kernel table', async () => (await ispKernelRoute()) === undefined, 10_000, 5);
    const gone = performance.now() - t0;
    console.log(`BGP withdraw: apply() ${applied.toFixed(1)} ms, gone from the ISP kernel table after ${gone.toFixed(1)} ms`);
    expect(withdrawn).toHaveLength(1);
    expect(gone).toBeLessThan(5000);
    expect(await ispAsPath()).toBeUndefined();
    await expectSessionUntouched();
  });

  it('announces again: the route is back', async () => {
    const t0 = performance.now();
    await driver.apply({ action: 'announce', prepend: 1 });
    await waitFor('the route back in the ISP kernel table', ispKernelRoute, 10_000, 5);
    console.log(`BGP announce: in the ISP kernel table after ${(performance.now() - t0).toFixed(1)} ms`);
    expect(await ispAsPath()).toBe('65001 65001');
    await expectSessionUntouched();
  });

  it('restores the previous file and reports birdc text when BIRD rejects the configuration', async () => {
    const before = readFileSync(includeFile, 'utf8');
    // A driver with other symbol names: the operator's config calls anyturn_export(), which it no longer defines.
    const wrong = new BgpDriver({ birdctlSocket: popSock, includeFile, prefixes: [PREFIX], prependAs: 65001, name: 'other', log: silentLogger() });
    const err = await wrong.apply({ action: 'withdraw', prepend: 0 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ATN_ERR_BIRD_CONTROL' });
    // birdc's own text: "Reading configuration from …\n…/pop.conf:10:36 syntax error, unexpected CF_SYM_UNDEFINED"
    expect((err as Error).message).toMatch(/^birdc configure: .*\n.*syntax error/);
    expect(readFileSync(includeFile, 'utf8')).toBe(before);
    expect(await ispKernelRoute()).toBeDefined();
    await expectSessionUntouched();
  });

  it('reports an unreachable BIRD as ATN_ERR_BIRD_CONTROL', async () => {
    const lost = new BgpDriver({ birdctlSocket: join(dir, 'nope.ctl'), includeFile: join(dir, 'lost.conf'), prefixes: [PREFIX], prependAs: 65001, log: silentLogger() });
    await expect(lost.apply({ action: 'announce', prepend: 0 })).rejects.toMatchObject({ code: 'ATN_ERR_BIRD_CONTROL' });
    // the file is written anyway: BIRD reads it when it starts
    expect(readFileSync(join(dir, 'lost.conf'), 'utf8')).toContain(`route ${PREFIX} blackhole;`);
    const nowhere = new BgpDriver({ birdctlSocket: popSock, includeFile: join(dir, 'no-such-dir', 'x.conf'), prefixes: [PREFIX], prependAs: 65001, log: silentLogger() });
    await expect(nowhere.apply({ action: 'announce', prepend: 0 })).rejects.toMatchObject({ code: 'ATN_ERR_BIRD_CONTROL', message: expect.stringMatching(/include file/) });
    nowhere.close();
    await expect(nowhere.apply({ action: 'announce', prepend: 0 })).rejects.toMatchObject({ code: 'ATN_ERR_INVALID_STATE' });
  });
});
