/**
 * The measurements made against one running server, driven from the orchestrator through the generator process:
 *  1. allocations: a burst of K Allocate handshakes (Allocates/s), held idle to weigh the server's RSS per
 *     allocation, then deleted;
 *  2. latency: F flows with the peers echoing, at a fixed moderate rate (one-way both ways and round trip);
 *  3. throughput: client → peer only, stepping the offered rate up (×stepFactor) until a step loses ≥ lossPct or
 *     the generator cannot keep up, then bisecting between the last passing and the first failing rate.
 */
import { cpus } from 'node:os';
import type { BurstResult, ReleaseResult } from './allocations.js';
import type { GeneratorProcess } from './generator-process.js';
import type { BenchOptions } from './options.js';
import { DISTURBED_OTHER_CPU_PCT, cpuSampler, otherCpuSampler, readRssKb, waitForQuietHost } from './proc.js';
import type { RunningServer } from './servers.js';
import type { StepOptions, StepResult } from './traffic.js';
import type { TransportAddress } from '../../src/stun/index.js';
import type { TurnCredentials } from './turn-client.js';

/** The peer port of the Allocate + ChannelBind burst (outside every server's relay range; never sent to). */
const CHANNEL_PEER_PORT = 5004;

export interface AllocationMetrics {
  burst: BurstResult;
  /** A second burst of as many handshakes, each Allocate followed by a ChannelBind (the kernel entry, if any). */
  withChannel: BurstResult | undefined;
  release: ReleaseResult;
  rssBeforeKb: number;
  rssAfterKb: number;
  /** (RSS after − RSS before) / allocations created, in bytes. */
  bytesPerAllocation: number;
  serverCpuPct: number;
  /** CPU used by other processes during the burst (% of one core), and how many disturbed bursts were redone. */
  otherCpuPct: number;
  disturbedRetries: number;
}

export type ThroughputLimit = 'loss' | 'generator' | 'ceiling' | 'budget';

/** A step's verdict; 'disturbed' steps (other processes took the CPU) are repeated and do not count. */
export type StepOutcome = 'pass' | 'fail' | 'generator-bound' | 'disturbed';

/** At most this many disturbed steps are repeated per server. */
const MAX_DISTURBED_STEPS = 16;

export interface ThroughputMetrics {
  /** Highest offered rate that passed (client → peer datagrams per second); 0 when none did. */
  maxPps: number;
  best: StepResult | undefined;
  steps: (StepResult & { outcome: StepOutcome })[];
  /** Why the search stopped above maxPps. */
  limitedBy: ThroughputLimit;
  /** Server CPU time per relayed datagram at the best step, in microseconds. */
  serverCpuUsPerPacket: number;
  /**
   * Whole-host CPU time per relayed datagram at the best step (every core busy, softirq included, minus other
   * processes), in microseconds: server, kernel and generator. The generator stays in because on loopback the
   * kernel delivers (and an offloaded relay relays) each datagram inside the sender's system call, charged to the
   * generator; its own sending cost is about the same for every server.
   */
  hostCpuUsPerPacket: number;
  /**
   * Whole-host CPU per datagram when the generator sends the same rate straight to the peers (no server), measured
   * right after the search: the generator's and the kernel's own cost of moving a datagram on this host.
   */
  generatorAloneUsPerPacket: number;
  /** hostCpuUsPerPacket − generatorAloneUsPerPacket: what relaying adds to the host per datagram. */
  relayHostCpuUsPerPacket: number;
}

/** Busy cores (host busy % × CPUs: /proc/stat counts them all) minus other processes' cores, per relayed datagram (µs). */
function hostCpuUsPerPacket(step: StepResult, relayedPps: number, nproc: number): number {
  const cores = (step.hostBusyPct / 100) * nproc - step.otherCpuPct / 100;
  return (Math.max(0, cores) / relayedPps) * 1e6;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls the server's RSS until two readings 250 ms apart differ by < 0.5 % (at most `maxMs`). */
async function settledRss(pid: number, maxMs: number): Promise<number> {
  const deadline = Date.now() + maxMs;
  let prev = readRssKb(pid);
  for (;;) {
    await sleep(250);
    const cur = readRssKb(pid);
    if (Math.abs(cur - prev) <= prev * 0.005 || Date.now() > deadline) return cur;
    prev = cur;
  }
}

/**
 * Warm-up burst, then K allocations timed, held idle while the server's RSS settles, and deleted; then K Allocate +
 * ChannelBind handshakes timed (allocateWithChannel). The memory
 * figure always comes from the first burst (a Node server keeps its grown heap after the deletions, so a later
 * burst would look cheaper); the burst is timed again (at most twice more) when other processes took more than
 * DISTURBED_OTHER_CPU_PCT of a core during it.
 */
export async function measureAllocations(
  gen: GeneratorProcess,
  server: RunningServer,
  creds: TurnCredentials,
  o: BenchOptions,
  clientAddress: () => string,
  log: (line: string) => void,
): Promise<AllocationMetrics> {
  const base = { server: server.endpoint, creds };
  if (o.warmupAllocations > 0) {
    await gen.call({ cmd: 'burst.open', ...base, localAddress: clientAddress(), count: o.warmupAllocations });
    await gen.call({ cmd: 'burst.allocate', concurrency: o.allocConcurrency });
    await gen.call({ cmd: 'burst.release', concurrency: o.allocConcurrency });
  }
  let memory: { rssBeforeKb: number; rssAfterKb: number; ok: number } | undefined;
  for (let attempt = 0; ; attempt++) {
    const timed = await timedBurst(gen, server, creds, o, clientAddress(), undefined, memory === undefined);
    memory ??= { rssBeforeKb: timed.rssBeforeKb, rssAfterKb: timed.rssAfterKb, ok: timed.burst.ok };
    if (timed.otherCpuPct > DISTURBED_OTHER_CPU_PCT && attempt < 2) {
      log(`  allocation burst disturbed (other processes used ${timed.otherCpuPct.toFixed(0)} % of a core); timing it again`);
      await waitForQuietHost(30_000, log);
      continue;
    }
    return {
      burst: timed.burst,
      withChannel: await allocateWithChannel(gen, server, creds, o, clientAddress, log),
      release: timed.release,
      rssBeforeKb: memory.rssBeforeKb,
      rssAfterKb: memory.rssAfterKb,
      bytesPerAllocation: memory.ok > 0 ? ((memory.rssAfterKb - memory.rssBeforeKb) * 1024) / memory.ok : Number.NaN,
      serverCpuPct: timed.serverCpuPct,
      otherCpuPct: timed.otherCpuPct,
      disturbedRetries: attempt,
    };
  }
}

interface TimedBurst {
  burst: BurstResult;
  release: ReleaseResult;
  serverCpuPct: number;
  otherCpuPct: number;
  /** The server's settled RSS before the burst and with the allocations held (NaN unless `weigh`). */
  rssBeforeKb: number;
  rssAfterKb: number;
}

/** One burst of `idleAllocations` handshakes (each followed by a ChannelBind to `bindTo` if given), timed, then deleted. */
async function timedBurst(
  gen: GeneratorProcess,
  server: RunningServer,
  creds: TurnCredentials,
  o: BenchOptions,
  localAddress: string,
  bindTo: TransportAddress | undefined,
  weigh: boolean,
): Promise<TimedBurst> {
  await gen.call({ cmd: 'burst.open', server: server.endpoint, creds, localAddress, count: o.idleAllocations });
  const rssBeforeKb = weigh ? await settledRss(server.pid, 3000) : Number.NaN;
  const cpu = cpuSampler([server.pid]);
  const others = otherCpuSampler(new Set([server.pid, gen.pid, process.pid]));
  const burst = await gen.call({ cmd: 'burst.allocate', concurrency: o.allocConcurrency, bindTo });
  const [serverCpuPct] = cpu.stop();
  const otherCpuPct = others.stop();
  const rssAfterKb = weigh ? await settledRss(server.pid, 5000) : Number.NaN;
  const release = await gen.call({ cmd: 'burst.release', concurrency: o.allocConcurrency });
  return { burst, release, serverCpuPct, otherCpuPct, rssBeforeKb, rssAfterKb };
}

/** Allocate + ChannelBind handshakes per second (one burst of `idleAllocations`, then deleted); undefined when disturbed thrice. */
async function allocateWithChannel(
  gen: GeneratorProcess,
  server: RunningServer,
  creds: TurnCredentials,
  o: BenchOptions,
  clientAddress: () => string,
  log: (line: string) => void,
): Promise<BurstResult | undefined> {
  // A peer inside the allowed loopback range; nothing is ever sent to it.
  const bindTo: TransportAddress = { family: 4, address: server.endpoint.address, port: CHANNEL_PEER_PORT };
  for (let attempt = 0; attempt < 3; attempt++) {
    const timed = await timedBurst(gen, server, creds, o, clientAddress(), bindTo, false);
    if (timed.otherCpuPct <= DISTURBED_OTHER_CPU_PCT) return timed.burst;
    log(`  Allocate + ChannelBind burst disturbed (other processes used ${timed.otherCpuPct.toFixed(0)} % of a core); timing it again`);
    await waitForQuietHost(30_000, log);
  }
  return undefined;
}

/** A throughput step (all flows, no echo) or a latency step (reader flows only, echoing). */
function stepOptions(o: BenchOptions, server: RunningServer, ratePps: number, latency: boolean, durationMs = o.stepMs): StepOptions {
  return { ratePps, durationMs, drainMs: o.drainMs, echo: latency, readersOnly: latency, serverPid: server.pid };
}

/** The generator failed to offer the rate, or dropped more in its own sockets than the server did. */
function generatorBound(r: StepResult): boolean {
  const genDrops = r.drops.generatorPeers + r.drops.generatorClients;
  const serverDrops = r.drops.serverListen + r.drops.serverRelay;
  return r.achievedPps < r.offeredPps * 0.98 || (genDrops > 0 && genDrops >= serverDrops);
}

export async function measureLatency(
  gen: GeneratorProcess,
  server: RunningServer,
  o: BenchOptions,
  log: (line: string) => void,
): Promise<StepResult> {
  await gen.call({ cmd: 'rig.step', step: stepOptions(o, server, o.latencyPps, true, Math.min(1000, o.latencyMs)) });
  for (let attempt = 0; ; attempt++) {
    const r = await gen.call({ cmd: 'rig.step', step: stepOptions(o, server, o.latencyPps, true, o.latencyMs) });
    if (r.otherCpuPct <= DISTURBED_OTHER_CPU_PCT || attempt >= 2) return r;
    log(`  latency step disturbed (other processes used ${r.otherCpuPct.toFixed(0)} % of a core); again`);
    await waitForQuietHost(30_000, log);
  }
}

export async function measureThroughput(
  gen: GeneratorProcess,
  server: RunningServer,
  o: BenchOptions,
  log: (line: string) => void,
): Promise<ThroughputMetrics> {
  const steps: (StepResult & { outcome: StepOutcome })[] = [];
  let disturbed = 0;
  let good: StepResult | undefined;
  let badRate = Number.POSITIVE_INFINITY;
  let limitedBy: ThroughputLimit = 'budget';
  let rate = o.startPps;
  let spentMs = 0;
  const run = async (r: number): Promise<StepResult & { pass: boolean }> => {
    for (;;) {
      const res = await gen.call({ cmd: 'rig.step', step: stepOptions(o, server, Math.round(r), false) });
      const pass = res.lossPct < o.lossPct && !generatorBound(res);
      if (res.otherCpuPct > DISTURBED_OTHER_CPU_PCT && disturbed < MAX_DISTURBED_STEPS) {
        disturbed++;
        steps.push({ ...res, outcome: 'disturbed' });
        log(`    ${Math.round(r)} pps offered: disturbed (other processes used ${res.otherCpuPct.toFixed(0)} % of a core); again`);
        await waitForQuietHost(30_000, log);
        continue;
      }
      spentMs += o.stepMs;
      const outcome: StepOutcome = pass ? 'pass' : generatorBound(res) ? 'generator-bound' : 'fail';
      steps.push({ ...res, outcome });
      logStep(r, res, outcome);
      return { ...res, pass };
    }
  };
  const logStep = (r: number, res: StepResult, outcome: StepOutcome): void => {
    log(
      `    ${Math.round(r)} pps offered: sent ${Math.round(res.achievedPps)}/s, loss ${res.lossPct.toFixed(3)} %, ` +
        `server CPU ${res.serverCpuPct.toFixed(0)} %, generator CPU ${res.generatorCpuPct.toFixed(0)} %, host busy ${res.hostBusyPct.toFixed(0)} %, ` +
        `drops server ${res.drops.serverListen + res.drops.serverRelay} generator ${res.drops.generatorPeers + res.drops.generatorClients} ` +
        `other processes ${res.otherCpuPct.toFixed(0)} % → ${outcome}`,
    );
  };
  while (spentMs < o.searchBudgetS * 1000) {
    let s = await run(rate);
    // One retry of a failing step rules out a one-off hiccup (another process taking the CPU for a moment).
    if (!s.pass && spentMs < o.searchBudgetS * 1000) s = await run(rate);
    if (s.pass) {
      good = s;
    } else {
      badRate = Math.min(badRate, rate);
      limitedBy = generatorBound(s) ? 'generator' : 'loss';
    }
    const goodRate = good?.offeredPps ?? 0;
    if (Number.isFinite(badRate)) {
      if (goodRate > 0 && badRate / goodRate <= o.searchPrecision) break;
      rate = goodRate > 0 ? (goodRate + badRate) / 2 : rate / 2;
      if (goodRate === 0 && rate < 500) break;
    } else {
      if (rate >= o.maxPps) {
        limitedBy = 'ceiling';
        break;
      }
      rate = Math.min(o.maxPps, rate * o.stepFactor);
    }
  }
  if (spentMs >= o.searchBudgetS * 1000 && !Number.isFinite(badRate)) limitedBy = 'budget';
  const best = good;
  const relayed = best ? best.relayedPps : 0;
  const hostUs = best && relayed > 0 ? hostCpuUsPerPacket(best, relayed, cpus().length) : Number.NaN;
  const aloneUs = best ? await generatorAlone(gen, server, o, best.offeredPps, log) : Number.NaN;
  return {
    maxPps: best ? best.offeredPps : 0,
    best,
    steps,
    limitedBy,
    serverCpuUsPerPacket: best && relayed > 0 ? (best.serverCpuPct / 100 / relayed) * 1e6 : Number.NaN,
    hostCpuUsPerPacket: hostUs,
    generatorAloneUsPerPacket: aloneUs,
    relayHostCpuUsPerPacket: hostUs - aloneUs,
  };
}

/** Whole-host CPU per datagram with the generator sending `ratePps` straight to the sinks (see StepOptions.direct). */
async function generatorAlone(gen: GeneratorProcess, server: RunningServer, o: BenchOptions, ratePps: number, log: (line: string) => void): Promise<number> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const res = await gen.call({ cmd: 'rig.step', step: { ...stepOptions(o, server, Math.round(ratePps), false), direct: true } });
    if (res.otherCpuPct > DISTURBED_OTHER_CPU_PCT) {
      log(`    generator alone at ${Math.round(ratePps)} pps: disturbed (other processes used ${res.otherCpuPct.toFixed(0)} % of a core); again`);
      await waitForQuietHost(30_000, log);
      continue;
    }
    const us = res.achievedPps > 0 ? hostCpuUsPerPacket(res, res.achievedPps, cpus().length) : Number.NaN;
    log(`    generator alone at ${Math.round(ratePps)} pps (straight to the peers): sent ${Math.round(res.achievedPps)}/s, whole-host ${us.toFixed(2)} µs per datagram`);
    return us;
  }
  return Number.NaN;
}
