/**
 * Fixture of the global (two-PoP, BGP) integration tests: `labUp({ pops: 2, bgp: true,
 * redis: true })` (BIRD in the ISP and both PoP routers, redis-server behind the ISP),
 * real `anyturn relay --anycast G` processes (two per PoP), the real `anyturn agent`
 * with a `bgp:` section in each PoP router, a cluster store handle for the test itself
 * (the lab's redis over its Unix socket) and the anycast engineer's client that follows
 * 300s (test/integration/anycast/anycast-client.mjs) inside a client namespace.
 *
 * The relays get `--redis` (heartbeats with load and state into the registry, the fleet
 * nonce key from the store) and no `--nonce-key`: a nonce from any relay of either PoP is
 * valid on every relay, as in production.
 *
 * Everything is named `atng<random>-…` and removed by stop().
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openClusterStore, type ClusterStore } from '../../../src/cluster/store.js';
import { silentLogger } from '../../../src/log.js';
import { ispKernelGateway, ispRoutes, ispSessions, popByGateway, type IspRoute } from '../../lab/bgp.js';
import { agentConfigYaml, labDown, labUp, type AgentConfigOptions, type Lab, type LabPop, type LabRelay } from '../../lab/lab.js';
import { sh, waitFor } from '../../lab/netns.js';
import { anyturnBin, startAnyturn, type LabProcess } from '../../lab/proc.js';
import { NsClient, PASSWORD, PORT, REALM, USER, type AllocationResult } from '../anycast/anycast-lab.js';

export const AGENT_METRICS_PORT = 9101;
export const RELAY_METRICS_PORT = 9100;

export interface GlobalLabOptions {
  /** Agent config options for both PoPs (health timings, bgp policy, announce interval). */
  agent?: AgentConfigOptions;
  /** Extra `anyturn relay` flags for every relay. */
  relayArgs?: string[];
}

export interface RunningRelay {
  pop: LabPop;
  relay: LabRelay;
  proc: LabProcess;
}

export class GlobalLab {
  readonly relays: RunningRelay[] = [];
  readonly agents = new Map<string, LabProcess>();
  client!: NsClient;
  store!: ClusterStore;

  private constructor(
    readonly lab: Lab,
    readonly options: GlobalLabOptions,
    private readonly tmp: string,
  ) {}

  get g(): string {
    return this.lab.anycast;
  }

  get bgp() {
    return this.lab.bgp!;
  }

  static async start(options: GlobalLabOptions = {}): Promise<GlobalLab> {
    const prefix = `atng${randomBytes(3).toString('hex')}-`;
    const lab = await labUp({ prefix, pops: 2, relaysPerPop: 2, clients: 1, bgp: true, redis: true });
    const self = new GlobalLab(lab, options, mkdtempSync(join(tmpdir(), prefix)));
    try {
      self.store = await openClusterStore({ redisUrl: lab.redis!.localUrl, log: silentLogger(), refreshIntervalMs: 200 });
      await self.store.start();
      self.client = await new NsClient(lab.clients[0].ns).ready();
      await Promise.all(lab.pops.flatMap((pop) => pop.relays.map((r) => self.startRelay(pop, r))));
      await Promise.all(lab.pops.map((pop) => self.startAgent(pop)));
      await self.waitRoutes(2);
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  relayArgs(pop: LabPop, r: LabRelay): string[] {
    return [
      'relay',
      '--listen', r.address,
      '--anycast', this.lab.anycast,
      '--port', String(PORT),
      '--realm', REALM,
      '--user', `${USER}:${PASSWORD}`,
      '--id', r.id,
      '--pop', pop.name,
      '--redis', this.lab.redis!.url,
      '--metrics', `${r.address}:${RELAY_METRICS_PORT}`,
      '--log-level', 'warn',
      ...(this.options.relayArgs ?? []),
    ];
  }

  /** Starts (or restarts) a relay and waits until it answers a Binding on its unicast address. */
  async startRelay(pop: LabPop, r: LabRelay): Promise<RunningRelay> {
    const proc = startAnyturn(r.ns, r.id, this.relayArgs(pop, r));
    const running = { pop, relay: r, proc };
    const i = this.relays.findIndex((x) => x.relay.id === r.id);
    if (i >= 0) this.relays[i] = running;
    else this.relays.push(running);
    await waitFor(`${r.id} answering on ${r.address}`, async () => {
      if (proc.exited) throw new Error(`${r.id} exited: ${proc.stderr}`);
      return (await this.client.binding(r.address)).ok ? true : undefined;
    }, 20_000, 100);
    return running;
  }

  /** The agent config file of a PoP (written by start()). */
  agentConfigFile(pop: LabPop): string {
    return join(this.tmp, `agent-${pop.name}.yaml`);
  }

  private async startAgent(pop: LabPop): Promise<void> {
    const file = this.agentConfigFile(pop);
    writeFileSync(file, agentConfigYaml(this.lab, pop, { metrics: `${pop.uplinkAddress}:${AGENT_METRICS_PORT}`, ...this.options.agent }));
    const agent = startAnyturn(pop.ns, `${pop.name}-agent`, ['agent', '--config', file]);
    this.agents.set(pop.name, agent);
    await waitFor(`the ${pop.name} agent to announce G`, async () => {
      if (agent.exited) throw new Error(`agent exited: ${agent.stderr}`);
      const routes = await ispRoutes(this.bgp, this.g);
      return routes.some((r) => r.via === pop.uplinkAddress) ? true : undefined;
    }, 30_000, 50);
  }

  /** Waits until the ISP holds `count` routes to G. */
  async waitRoutes(count: number): Promise<IspRoute[]> {
    return waitFor(`${count} routes to G at the ISP`, async () => {
      const routes = await ispRoutes(this.bgp, this.g);
      return routes.length === count ? routes : undefined;
    }, 30_000, 50);
  }

  /** The PoP the ISP's kernel sends G to now. */
  async ispChoice(): Promise<LabPop | undefined> {
    return popByGateway(this.lab, await ispKernelGateway(this.lab, this.g));
  }

  /** The ISP's BGP session towards `pop` (IPv4). */
  async ispSession(pop: LabPop) {
    const b = this.bgp.pops[this.lab.pops.indexOf(pop)];
    return (await ispSessions(this.bgp)).find((s) => s.name === b.ispProtocols[4]);
  }

  /**
   * Asserts the ISP's BGP session with `pop` is still the one seen before: Established, with the same since-time.
   * BIRD 2 prints that time with ±1 ms jitter between two `show protocols`; a real reset moves it by 1 s or more.
   */
  async expectSessionKept(pop: LabPop, before: { since: string } | undefined): Promise<void> {
    const now = await this.ispSession(pop);
    if (now === undefined || before === undefined) throw new Error(`no ISP session with ${pop.name}`);
    if (now.info !== 'Established') throw new Error(`ISP session with ${pop.name} is ${now.info}, not Established`);
    const ms = (since: string): number => Date.parse(since.replace(' ', 'T'));
    const drift = Math.abs(ms(now.since) - ms(before.since));
    if (!(drift <= 50)) throw new Error(`ISP session with ${pop.name} was reset: since ${before.since} -> ${now.since}`);
  }

  /** The PoP whose LAN holds a 300's ALTERNATE-SERVER ("10.9.10.11:3478"). */
  popOf(alternate: string | undefined): LabPop | undefined {
    const ip = alternate?.split(':')[0];
    return this.lab.pops.find((p) => p.relays.some((r) => r.address === ip));
  }

  allocate(count: number): Promise<AllocationResult[]> {
    return this.client.allocate(this.g, { count, concurrency: Math.min(count, 4) });
  }

  /** An agent's /metrics text (fetched from the client namespace through the ISP). */
  async agentMetrics(pop: LabPop): Promise<string> {
    const r = await this.client.fetch(`http://${pop.uplinkAddress}:${AGENT_METRICS_PORT}/metrics`);
    if (r.status !== 200) throw new Error(`metrics of the ${pop.name} agent: ${r.status} ${r.text}`);
    return r.text;
  }

  /** `anyturn status --json` against the lab's redis. */
  async status(): Promise<{ pops: { pop: string; announcements: { action: string; prepend: number; reason: string }[] }[] }> {
    const { stdout } = await sh(process.execPath, [anyturnBin(), 'status', '--redis', this.lab.redis!.localUrl, '--json']);
    return JSON.parse(stdout) as Awaited<ReturnType<GlobalLab['status']>>;
  }

  /** SIGKILL: the relay's sockets on U and G vanish, no goodbye. */
  async kill(r: RunningRelay): Promise<void> {
    r.proc.child.kill('SIGKILL');
    await r.proc.exit(10_000);
  }

  relaysOf(pop: LabPop): RunningRelay[] {
    return this.relays.filter((r) => r.pop === pop);
  }

  async stop(): Promise<void> {
    await this.client?.close().catch(() => {});
    await Promise.allSettled(this.relays.map((r) => r.proc.stop()));
    await Promise.allSettled([...this.agents.values()].map((a) => a.stop()));
    await this.store?.close().catch(() => {});
    await labDown(this.lab.prefix);
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Value of one sample line `name{labels} value` (or `name value`) in a Prometheus text page. */
export function metricValue(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^(\S+?)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name) return Number(m[3]);
  }
  return undefined;
}
