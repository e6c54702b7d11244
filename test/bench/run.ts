/**
 * `npm run bench`: runs our load generator against anyturn, coturn (1 relay thread and default threads) and
 * node-turn on this machine, one server at a time, and writes docs/benchmarks.md (also printed).
 * Options: see options.ts (`npm run bench -- --help`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { GeneratorProcess } from './generator-process.js';
import { parseOptions, type BenchOptions } from './options.js';
import { REPO_ROOT } from './paths.js';
import { measureAllocations, measureLatency, measureThroughput } from './phases.js';
import { QUIET_BUSY_PCT, machineInfo, waitForQuietHost } from './proc.js';
import {
  monotonicUs,
  perfNodeArgs,
  removePerfMap,
  startPerf,
  summarizeProfileDir,
  type PerfSummary,
  type ProfileSummary,
} from './profile.js';
import { extractNotes, renderReport, type BenchReport, type ServerRun } from './report.js';
import type { RigOptions } from './traffic.js';
import { SERVER_LABELS, startServer, type RunningServer, type ServerConfig, type ServerKind } from './servers.js';

const CREDS = { username: 'bench', password: 'bench' };
const REALM = 'bench';

const cleanups = new Set<() => Promise<void>>();
const log = (line: string): void => void process.stderr.write(line + '\n');

let clientAddressCount = 0;

/**
 * A fresh client source address for each group of allocations (127.0.1.1, 127.0.1.2, … when the servers listen on
 * loopback): a new socket must never reuse the 5-tuple of an allocation deleted a moment ago, which some servers
 * (coturn) still remember and answer with 437.
 */
function clientAddress(o: BenchOptions): string {
  if (!o.address.startsWith('127.')) return o.address;
  const k = clientAddressCount++;
  return `127.0.${1 + Math.floor(k / 250)}.${1 + (k % 250)}`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function serverConfig(o: BenchOptions, nodeArgs?: string[]): ServerConfig {
  return {
    address: o.address,
    username: CREDS.username,
    password: CREDS.password,
    realm: REALM,
    minPort: o.minPort,
    maxPort: o.maxPort,
    anyturnCli: o.anyturnCli,
    nodeArgs,
  };
}

/** Starts a server and a fresh generator, runs `body`, and always stops both. */
async function withServer<T>(
  kind: ServerKind,
  cfg: ServerConfig,
  body: (server: RunningServer, gen: GeneratorProcess) => Promise<T>,
): Promise<T> {
  let server: RunningServer | undefined;
  let gen: GeneratorProcess | undefined;
  const cleanup = async (): Promise<void> => {
    await gen?.stop();
    await server?.stop();
  };
  cleanups.add(cleanup);
  try {
    server = await startServer(kind, cfg);
    gen = GeneratorProcess.start();
    return await body(server, gen);
  } finally {
    await cleanup();
    cleanups.delete(cleanup);
  }
}

async function benchServer(kind: ServerKind, o: BenchOptions): Promise<ServerRun> {
  const run: ServerRun = { kind, notes: [] };
  const label = SERVER_LABELS[kind];
  log(`== ${label}`);
  const busy = await waitForQuietHost(o.quietWaitS * 1000, log);
  run.hostBusyBeforePct = busy;
  if (busy >= QUIET_BUSY_PCT) run.notes.push(`the host was ${busy.toFixed(0)} % busy with other work when this server's run started`);
  try {
    await withServer(kind, serverConfig(o), async (server, gen) => {
      run.command = server.command;
      log(`  started (pid ${server.pid}, port ${server.endpoint.port}); allocations: ${o.idleAllocations}`);
      try {
        const a = await measureAllocations(gen, server, CREDS, o, () => clientAddress(o), log);
        run.allocations = a;
        log(
          `  ${a.burst.ok} allocations in ${(a.burst.elapsedMs / 1000).toFixed(2)} s = ${Math.round(a.burst.perSecond)}/s ` +
            `(${a.burst.failed} failed); RSS ${a.rssBeforeKb} → ${a.rssAfterKb} KiB = ${Math.round(a.bytesPerAllocation)} B/allocation`,
        );
        if (a.burst.failed > 0) run.notes.push(`${a.burst.failed} of ${a.burst.requested} Allocates failed (${JSON.stringify(a.burst.errors)})`);
      } catch (err) {
        run.notes.push(`allocation phase failed: ${errorText(err)}`);
        log(`  allocation phase failed: ${errorText(err)}`);
      }
      for (const framing of ['channel-data', 'send-indication'] as const) {
        const rig: RigOptions = {
          framing,
          server: server.endpoint,
          creds: CREDS,
          flows: o.flows,
          readerFlows: o.readerFlows,
          payloadBytes: o.payloadBytes,
          localAddress: clientAddress(o),
        };
        try {
          await gen.call({ cmd: 'rig.create', rig });
        } catch (err) {
          run.notes.push(`traffic setup (Allocate, CreatePermission, ChannelBind) failed: ${errorText(err)}`);
          log(`  traffic setup failed: ${errorText(err)}`);
          return;
        }
        run.framing = framing;
        try {
          const l = await measureLatency(gen, server, o, log);
          run.latency = l;
          log(
            `  latency at ${o.latencyPps} pps with echo (${framing}): fwd p50/p99 ${l.forward.p50Us}/${l.forward.p99Us} µs, ` +
              `rtt ${l.roundTrip.p50Us}/${l.roundTrip.p99Us} µs, loss ${l.lossPct.toFixed(3)} % / ${l.echoLossPct.toFixed(3)} %`,
          );
          if (l.received === 0 && framing === 'channel-data') {
            run.notes.push(
              `relays no ChannelData sent by clients (0 of ${l.sent} reached the peers); ` +
                'latency and throughput below use Send indications instead',
            );
            run.latency = undefined;
            await gen.call({ cmd: 'rig.close' }).catch(() => undefined);
            continue;
          }
        } catch (err) {
          run.notes.push(`latency phase failed: ${errorText(err)}`);
        }
        try {
          log('  throughput search:');
          const t = await measureThroughput(gen, server, o, log);
          run.throughput = t;
          log(`  max ${t.maxPps} pps (limited by ${t.limitedBy})`);
        } catch (err) {
          run.notes.push(`throughput phase failed: ${errorText(err)}`);
        }
        await gen.call({ cmd: 'rig.close' }).catch(() => undefined);
        break;
      }
    });
  } catch (err) {
    run.error = errorText(err).split('\n')[0];
    log(`  ${label} failed: ${errorText(err)}`);
  }
  return run;
}

/**
 * Runs anyturn under `node --cpu-prof` (and `perf record` when installed) doing one activity for `o.profileMs`,
 * and summarises both profiles over exactly that window.
 */
async function profileAnyturn(activity: 'traffic' | 'allocations', o: BenchOptions, ratePps: number): Promise<ProfileSummary> {
  const dir = mkdtempSync(join(tmpdir(), 'anyturn-bench-prof-'));
  let pid = -1;
  try {
    let description = '';
    let perf: PerfSummary | undefined;
    const window = { fromUs: 0, toUs: 0 };
    const nodeArgs = ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...perfNodeArgs()];
    await withServer('anyturn', serverConfig(o, nodeArgs), async (server, gen) => {
      pid = server.pid;
      let work: () => Promise<void>;
      if (activity === 'traffic') {
        await gen.call({
          cmd: 'rig.create',
          rig: { framing: 'channel-data', server: server.endpoint, creds: CREDS, flows: o.flows, readerFlows: o.readerFlows, payloadBytes: o.payloadBytes, localAddress: clientAddress(o) },
        });
        let sent = 0;
        work = async () => {
          const s = await gen.call({
            cmd: 'rig.step',
            step: { ratePps: ratePps, durationMs: 1000, drainMs: 100, echo: false, readersOnly: false, serverPid: server.pid },
          });
          sent += s.sent;
          description = `ChannelData client → peer at ${ratePps} pps (${sent} datagrams in ${o.profileMs / 1000} s, ${o.flows} flows)`;
        };
      } else {
        let n = 0;
        work = async () => {
          await gen.call({ cmd: 'burst.open', server: server.endpoint, creds: CREDS, count: 1000, localAddress: clientAddress(o) });
          const b = await gen.call({ cmd: 'burst.allocate', concurrency: o.allocConcurrency });
          await gen.call({ cmd: 'burst.release', concurrency: o.allocConcurrency });
          n += b.ok;
          description = `${n} Allocate handshakes, each followed later by a Refresh 0 (bursts of 1000, ${o.profileMs / 1000} s)`;
        };
      }
      const recording = startPerf(server.pid, dir);
      const deadline = Date.now() + o.profileMs;
      window.fromUs = monotonicUs();
      while (Date.now() < deadline) await work();
      window.toUs = monotonicUs();
      perf = await recording?.stop();
      if (activity === 'traffic') await gen.call({ cmd: 'rig.close' });
    });
    const summary = summarizeProfileDir(dir, activity === 'traffic' ? 'relaying ChannelData' : 'Allocate handshakes', description, window);
    summary.perf = perf;
    return summary;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (pid > 0) removePerfMap(pid);
  }
}

/** The soft open-files limit of this process (inherited by the servers and the generator). */
function openFilesLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

function commandLine(argv: string[]): string {
  const env = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`);
  return [...env, 'npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' ');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let o: BenchOptions;
  try {
    o = parseOptions(argv, process.env);
  } catch (err) {
    log(errorText(err));
    return 2;
  }
  const nofile = openFilesLimit();
  const needed = o.idleAllocations + 2 * o.flows + 1000;
  if (needed > nofile) {
    log(`the open-files limit (${nofile}) is too low for ${o.idleAllocations} idle allocations: raise it (ulimit -n ${needed}) or lower --idle-allocs`);
    return 2;
  }
  const t0 = Date.now();
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  let nodeTurnVersion = 'not installed';
  try {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'node-turn', 'package.json'), 'utf8')) as { version: string };
    nodeTurnVersion = pkg.version;
  } catch {
    /* not installed */
  }
  const runs: ServerRun[] = [];
  for (const kind of o.servers) runs.push(await benchServer(kind, o));

  const profiles: ProfileSummary[] = [];
  const any = runs.find((r) => r.kind === 'anyturn');
  const coturns = runs.filter((r) => r.kind === 'coturn' || r.kind === 'coturn-1');
  if (any && !any.error && o.profile !== 'off') {
    const shortPps = coturns.some((c) => (c.throughput?.maxPps ?? 0) > (any.throughput?.maxPps ?? 0));
    const shortAlloc = coturns.some((c) => (c.allocations?.burst.perSecond ?? 0) > (any.allocations?.burst.perSecond ?? 0));
    const rate = Math.max(1000, Math.round((any.throughput?.maxPps ?? o.latencyPps) * 0.9));
    if (o.profile === 'on' || shortPps) {
      log(`== profiling anyturn: traffic at ${rate} pps`);
      try {
        profiles.push(await profileAnyturn('traffic', o, rate));
      } catch (err) {
        any.notes.push(`traffic profile failed: ${errorText(err)}`);
      }
    }
    if (o.profile === 'on' || shortAlloc) {
      log('== profiling anyturn: Allocate handshakes');
      try {
        profiles.push(await profileAnyturn('allocations', o, rate));
      } catch (err) {
        any.notes.push(`allocation profile failed: ${errorText(err)}`);
      }
    }
  }

  const out = o.out === '' ? '' : isAbsolute(o.out) ? o.out : join(REPO_ROOT, o.out);
  const previous = out && existsSync(out) ? readFileSync(out, 'utf8') : '';
  const report: BenchReport = {
    startedAt,
    durationS: (Date.now() - t0) / 1000,
    command: commandLine(argv),
    machine: machineInfo(nodeTurnVersion),
    options: o,
    runs,
    profiles,
    notes: extractNotes(previous),
  };
  const md = renderReport(report);
  process.stdout.write(md + '\n');
  if (out) {
    writeFileSync(out, md);
    log(`written to ${out}`);
  }
  return runs.some((r) => r.kind === 'anyturn' && r.error) ? 1 : 0;
}

async function cleanupAll(): Promise<void> {
  await Promise.allSettled([...cleanups].map((c) => c()));
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    log(`${sig}: stopping servers and the generator`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    log(`bench failed: ${errorText(err)}`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
