/**
 * Fixture of the anycast integration tests: a lab (test/lab) with its own prefix, the real router agent on the
 * PoP router (broadcast next hop for UDP to G), real `anyturn relay --anycast G` processes in the relay
 * namespaces, and a client process (anycast-client.mjs) inside a client namespace that speaks TURN and follows
 * 300s the way libwebrtc does.
 *
 * Everything it creates is named `<prefix>…` and removed by `stop()` (namespaces, the processes inside them, the
 * temporary agent config).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { agentConfigYaml, labDown, labUp, type Lab, type LabRelay } from '../../lab/lab.js';
import { sh, spawnIn, stopChild, waitFor } from '../../lab/netns.js';
import { startAnyturn, type LabProcess } from '../../lab/proc.js';
import type { ExchangeResult } from '../../lab/webrtc-exchange.js';
import { expect } from 'vitest';

export const USER = 'alice';
export const PASSWORD = 'through-the-looking-glass';
export const REALM = 'anyturn.lab';
export const PORT = 3478;
export const METRICS_PORT = 9100;

const CLIENT_SCRIPT = fileURLToPath(new URL('./anycast-client.mjs', import.meta.url));

/** What anycast-client.mjs reports for one allocation through G. */
export interface AllocationResult {
  ok: boolean;
  alternate?: string;
  relayed?: string;
  ms?: number;
  restarts: number;
  extra300: number;
  sends: number;
  race?: string[];
  why?: string;
  mode?: 'strict' | 'fast';
}

/** What allocateLikeJuice reports for one allocation through G. */
export interface JuiceResult {
  ok: boolean;
  why?: string;
  mode?: 'strict' | 'fast';
  alternate?: string;
  /** ms from the request that got the 300 to the 300. */
  ms300?: number;
  /** Answers seen per request (the one transaction id's three uses). */
  answers: { challenge: number; redirect: number; allocate: number };
  /** Copies of each request the client sent (retransmissions after 250, 500, 1000 ms without an answer). */
  sends: { challenge: number; redirect: number; allocate: number };
  /** Some request got more than one answer. */
  multi: boolean;
  /** Some request got more answers than the client sent copies of it: more than one relay answered. */
  extraAnswers: boolean;
}

export interface FloodResult {
  sentPackets: number;
  sentBytes: number;
  receivedPackets: number;
  receivedBytes: number;
  sendMs: number;
  sockets: number;
  maxPerSource: number;
}

/** The client process inside a namespace: one JSON command per line, one JSON reply per line. */
export class NsClient {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  #next = 1;
  #ready: Promise<void>;
  stderr = '';

  constructor(readonly ns: string) {
    this.#child = spawnIn(ns, process.execPath, [CLIENT_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    let ready: () => void = () => {};
    this.#ready = new Promise<void>((resolve) => {
      ready = resolve;
    });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (msg.event === 'ready') ready();
      const id = msg.id as number | undefined;
      if (id !== undefined) {
        this.#waiting.get(id)?.(msg);
        this.#waiting.delete(id);
      }
    });
  }

  async ready(timeoutMs = 10_000): Promise<this> {
    await waitFor(`client in ${this.ns}`, async () => {
      if (this.#child.exitCode !== null) throw new Error(`client exited: ${this.stderr}`);
      const done = await Promise.race([this.#ready.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 50))]);
      return done ? true : undefined;
    }, timeoutMs);
    return this;
  }

  call<T = Record<string, unknown>>(cmd: Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`client command ${String(cmd.cmd)} timed out; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (typeof reply.error === 'string') reject(new Error(reply.error));
        else resolve(reply as T);
      });
      this.#child.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  /** `count` allocations through G (`server` defaults to G:3478). */
  async allocate(
    g: string,
    opts: { count: number; concurrency?: number; release?: boolean; expectMi?: boolean },
  ): Promise<AllocationResult[]> {
    const reply = await this.call<{ results: AllocationResult[] }>(
      {
        cmd: 'allocate',
        server: { address: g, port: PORT },
        username: USER,
        password: PASSWORD,
        release: true,
        expectMi: true,
        concurrency: 4,
        ...opts,
      },
      120_000,
    );
    return reply.results;
  }

  /** `count` allocations through G the way libjuice makes them (anycast-client.mjs, allocateLikeJuice). */
  async allocateLikeJuice(g: string, opts: { count: number; concurrency?: number; graceMs?: number }): Promise<JuiceResult[]> {
    const reply = await this.call<{ results: JuiceResult[] }>(
      { cmd: 'allocate-juice', server: { address: g, port: PORT }, username: USER, password: PASSWORD, ...opts },
      180_000,
    );
    return reply.results;
  }

  /** `count` allocations held open directly on a relay's unicast address (real load). */
  hold(address: string, count: number): Promise<{ ok: number; failed: number }> {
    return this.call({ cmd: 'hold', server: { address, port: PORT }, username: USER, password: PASSWORD, count }, 60_000);
  }

  releaseHeld(): Promise<{ released: number }> {
    return this.call({ cmd: 'release-held' });
  }

  binding(address: string, port = PORT): Promise<{ ok: boolean; mapped?: string; ms?: number }> {
    return this.call({ cmd: 'binding', server: { address, port } });
  }

  fetch(url: string, method = 'GET'): Promise<{ status: number; text: string }> {
    return this.call({ cmd: 'fetch', url, method });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null) {
      this.#child.stdin!.end();
      await stopChild(this.#child, 'SIGTERM');
    }
  }
}

export interface RunningRelay {
  relay: LabRelay;
  proc: LabProcess;
}

export interface AnycastLabOptions {
  /** Extra `anyturn relay` flags for every relay. */
  relayArgs?: string[];
  clients?: number;
  /** Relays also listen on their IPv6 LAN address and hold G6; the agent maps UDP to G6 too. */
  ipv6?: boolean;
}

export class AnycastLab {
  readonly relays: RunningRelay[] = [];
  readonly clients: NsClient[] = [];
  agent: LabProcess | undefined;
  readonly nonceKey = randomBytes(32).toString('hex');

  private constructor(
    readonly lab: Lab,
    readonly options: AnycastLabOptions,
    private readonly tmp: string,
  ) {}

  get g(): string {
    return this.lab.anycast;
  }

  get g6(): string {
    return this.lab.anycast6;
  }

  static async start(options: AnycastLabOptions = {}): Promise<AnycastLab> {
    const prefix = `atany${randomBytes(3).toString('hex')}-`;
    const lab = await labUp({ prefix, clients: options.clients ?? 2 });
    const self = new AnycastLab(lab, options, mkdtempSync(join(tmpdir(), prefix)));
    try {
      for (const c of lab.clients) self.clients.push(await new NsClient(c.ns).ready());
      await Promise.all(lab.pops[0].relays.map((r) => self.startRelay(r)));
      await self.startAgent();
      await self.waitAnycastReady();
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  relayArgs(r: LabRelay): string[] {
    return [
      'relay',
      '--listen', r.address,
      '--anycast', this.lab.anycast,
      ...(this.options.ipv6 ? ['--listen', r.address6, '--anycast', this.lab.anycast6] : []),
      '--port', String(PORT),
      '--realm', REALM,
      '--user', `${USER}:${PASSWORD}`,
      '--capacity', '1000',
      '--id', r.id,
      '--pop', 'pop1',
      '--nonce-key', this.nonceKey,
      '--metrics', `${r.address}:${METRICS_PORT}`,
      '--log-level', 'warn',
      ...(this.options.relayArgs ?? []),
    ];
  }

  /** Starts (or restarts) `anyturn relay` in the relay's namespace and waits until it answers on U. */
  async startRelay(r: LabRelay): Promise<RunningRelay> {
    const proc = startAnyturn(r.ns, r.id, this.relayArgs(r));
    const running = { relay: r, proc };
    const i = this.relays.findIndex((x) => x.relay.id === r.id);
    if (i >= 0) this.relays[i] = running;
    else this.relays.push(running);
    await waitFor(`${r.id} answering on ${r.address}`, async () => {
      if (proc.exited) throw new Error(`${r.id} exited: ${proc.stderr}`);
      return (await this.clients[0].binding(r.address)).ok ? true : undefined;
    }, 20_000, 100);
    return running;
  }

  private async startAgent(): Promise<void> {
    const pop = this.lab.pops[0];
    const file = join(this.tmp, 'agent.yaml');
    writeFileSync(file, agentConfigYaml(this.lab, pop, { ipv6: this.options.ipv6 }));
    this.agent = startAnyturn(pop.ns, `${pop.name}-agent`, ['agent', '--config', file]);
    await waitFor('the agent to install the broadcast next hop for UDP to G', async () => {
      if (this.agent?.exited) throw new Error(`agent exited: ${this.agent.stderr}`);
      const rules = await sh('ip', ['-n', pop.ns, 'rule', 'show'], { allowFail: true });
      const neigh = await sh('ip', ['-n', pop.ns, 'neigh', 'show', pop.broadcastNextHop], { allowFail: true });
      let ok = rules.stdout.includes(this.lab.anycast) && neigh.stdout.includes('ff:ff:ff:ff:ff:ff');
      if (ok && this.options.ipv6) {
        const rules6 = await sh('ip', ['-n', pop.ns, '-6', 'rule', 'show'], { allowFail: true });
        ok = rules6.stdout.includes(this.lab.anycast6);
      }
      return ok ? true : undefined;
    }, 20_000, 100);
  }

  /** G answers a Binding from the first client (some relay answers through the PoP router). */
  private async waitAnycastReady(): Promise<void> {
    await waitFor('a Binding through G', async () => ((await this.clients[0].binding(this.g)).ok ? true : undefined), 20_000, 100);
  }

  /** Stops every relay and starts them again with `relayArgs` (e.g. another --redirect mode). */
  async restartRelays(relayArgs: string[]): Promise<void> {
    await Promise.all(this.relays.map((r) => r.proc.stop()));
    this.options.relayArgs = relayArgs;
    await Promise.all(this.lab.pops[0].relays.map((r) => this.startRelay(r)));
    await this.waitAnycastReady();
  }

  /** SIGKILL, no goodbye: the relay's sockets on U and G vanish. */
  async kill(i: number): Promise<void> {
    const { proc } = this.relays[i];
    proc.child.kill('SIGKILL');
    await proc.exit(10_000);
  }

  relay(i: number): RunningRelay {
    return this.relays[i];
  }

  /** "10.9.9.12:3478" (or its IPv6 address) -> the relay index. */
  relayIndexOf(alternate: string | undefined): number {
    return this.relays.findIndex(
      (r) => `${r.relay.address}:${PORT}` === alternate || `${r.relay.address6}:${PORT}` === alternate,
    );
  }

  /** One relay's /metrics text, fetched from inside a client namespace. */
  async metrics(i: number): Promise<string> {
    const r = await this.clients[0].fetch(`http://${this.relays[i].relay.address}:${METRICS_PORT}/metrics`);
    if (r.status !== 200) throw new Error(`metrics of ${this.relays[i].relay.id}: ${r.status} ${r.text}`);
    return r.text;
  }

  /** One sample (`name{labels}`) summed over the relays (absent = 0). */
  async metricTotal(sample: string): Promise<number> {
    const values = await Promise.all(this.relays.map(async (_, i) => metricValue(await this.metrics(i), sample) ?? 0));
    return values.reduce((a, b) => a + b, 0);
  }

  /** `anyturn_anycast_answers_total{kind}` summed over the relays (e.g. the 300s they sent on G). */
  answersTotal(kind: string): Promise<number> {
    return this.metricTotal(`anyturn_anycast_answers_total{kind="${kind}"}`);
  }

  /**
   * Waits until the race group ranks the relays in the order of `order` (relay indexes, least loaded first, each
   * step strictly below the next: `anyturn_race_group_load_step`). Load made on the relays takes effect in the
   * ranking 100 ms after the presence that announces it; a busy relay's event-loop lag may add a step for a while.
   */
  async waitRaceOrder(order: number[]): Promise<void> {
    let last = '';
    await waitFor('the race group ranking the relays by their load', async () => {
      const steps = await Promise.all(this.relays.map(async (_, i) => metricValue(await this.metrics(i), 'anyturn_race_group_load_step') ?? -1));
      last = steps.join('/');
      for (let k = 1; k < order.length; k++) if (!(steps[order[k - 1]] < steps[order[k]])) return undefined;
      return true;
    }, 20_000, 50).catch((err: Error) => {
      throw new Error(`${err.message}; load steps of the relays: ${last}`);
    });
  }

  /** Adds `count` extra addresses 10.0.<k>.<first..> to client k's eth0 (the flood's sources). */
  async addClientAddresses(client: number, first: number, count: number): Promise<string[]> {
    const c = this.lab.clients[client];
    const base = c.address.split('.').slice(0, 3).join('.');
    const addresses = Array.from({ length: count }, (_, i) => `${base}.${first + i}`);
    const batch = addresses.map((a) => `addr add ${a}/24 dev eth0`).join('\n');
    await sh('ip', ['-n', c.ns, '-batch', '-'], { input: `${batch}\n` });
    return addresses;
  }

  /**
   * `count` spoofable source addresses for client k, from 10.200.0.0/18 (up to 16,382): a local route makes the
   * whole range bindable in the client namespace (AnyIP) and the inet router routes it back to the client.
   */
  async addSpoofRange(client: number, count: number): Promise<string[]> {
    if (count < 1 || count > 16_382) throw new Error('addSpoofRange: 1..16382 addresses');
    const c = this.lab.clients[client];
    await sh('ip', ['-n', c.ns, 'route', 'add', 'local', '10.200.0.0/18', 'dev', 'lo']);
    await sh('ip', ['-n', this.lab.inet.ns, 'route', 'add', '10.200.0.0/18', 'via', c.address]);
    return Array.from({ length: count }, (_, i) => `10.200.${(i + 1) >> 8}.${(i + 1) & 255}`);
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.clients.map((c) => c.close()));
    await Promise.allSettled(this.relays.map((r) => r.proc.stop()));
    if (this.agent) await this.agent.stop().catch(() => {});
    await labDown(this.lab.prefix);
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/**
 * What a browser's relay-only exchange through G must show (chromium.test.ts, firefox.test.ts): no error, every
 * message in order, only relay candidates and each on a relay's unicast address (none on G), and the data carried
 * by a relay candidate allocated over the transport under test.
 */
export function expectRelayedThroughG(lab: AnycastLab, result: ExchangeResult, transport: 'udp' | 'tcp', messages: number): void {
  const why = JSON.stringify(result);
  expect(result.error, why).toBeUndefined();
  expect(result.received).toEqual(Array.from({ length: messages }, (_, i) => `hello ${i}`));
  const unicast = lab.relays.map((r) => r.relay.address);
  expect(result.candidates.length, why).toBeGreaterThanOrEqual(2);
  for (const c of result.candidates) {
    expect(c, why).toContain(' typ relay ');
    expect(unicast, why).toContain(c.split(' ')[4]);
  }
  expect(result.local, why).toMatchObject({ candidateType: 'relay', relayProtocol: transport });
  expect(unicast).toContain(result.local?.address);
}

/** Value of one sample line `name{labels} value` in a Prometheus text page; undefined when absent. */
export function metricValue(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

export function countBy<T>(items: T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) m.set(key(it), (m.get(key(it)) ?? 0) + 1);
  return m;
}
