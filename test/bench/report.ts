/**
 * Renders the bench results as Markdown (docs/benchmarks.md, also printed): the machine, the exact command, a
 * summary table (one row per metric, one column per server, ratios anyturn ÷ coturn), the goals, and per-metric
 * detail tables. A hand-written section between NOTES_BEGIN and NOTES_END survives re-runs.
 */
import type { LatencySummary } from './histogram.js';
import type { BenchOptions } from './options.js';
import type { AllocationMetrics, ThroughputMetrics } from './phases.js';
import type { MachineInfo } from './proc.js';
import type { ProfileSummary } from './profile.js';
import { SERVER_LABELS, type ServerKind } from './servers.js';
import type { Framing, StepResult } from './traffic.js';

export const NOTES_BEGIN = '<!-- notes:begin (hand-written; kept when the bench rewrites this file) -->';
export const NOTES_END = '<!-- notes:end -->';

export interface ServerRun {
  kind: ServerKind;
  command?: string;
  /** Set when the server could not be started or a phase failed. */
  error?: string;
  /** How the clients sent data in the latency and throughput phases. */
  framing?: Framing;
  /** Busy share of the host (other work) just before this server's run started. */
  hostBusyBeforePct?: number;
  allocations?: AllocationMetrics;
  latency?: StepResult;
  throughput?: ThroughputMetrics;
  notes: string[];
}

export interface BenchReport {
  startedAt: string;
  durationS: number;
  command: string;
  machine: MachineInfo;
  options: BenchOptions;
  runs: ServerRun[];
  profiles: ProfileSummary[];
  notes: string;
}

const nf = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const int = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '–' : nf.format(n));
const fix = (n: number | undefined, d = 1): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(d));
const lat = (s: LatencySummary | undefined): string =>
  s === undefined || s.count === 0 ? '–' : `${int(s.p50Us)} / ${int(s.p99Us)}`;
const latMs = (s: LatencySummary | undefined): string =>
  s === undefined || s.count === 0 ? '–' : `${fix(s.p50Us / 1000, 2)} / ${fix(s.p99Us / 1000, 2)}`;

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '–';
  return `${(a / b).toFixed(2)}×`;
}

interface Row {
  metric: string;
  value(r: ServerRun): number | undefined;
  show(r: ServerRun): string;
  /** Whether a ratio makes sense for this row. */
  ratio: boolean;
}

function throughputCell(r: ServerRun): string {
  const t = r.throughput;
  if (!t) return r.error ? 'n/a' : '–';
  const v = int(t.maxPps) + (r.framing === 'send-indication' ? ' (Send indications)' : '');
  if (t.limitedBy === 'generator') return `≥ ${v} (generator-bound)`;
  if (t.limitedBy === 'ceiling') return `≥ ${v} (ceiling)`;
  return v;
}

const ROWS: Row[] = [
  { metric: 'Host busy with other work before the run (%)', value: () => undefined, show: (r) => fix(r.hostBusyBeforePct, 0), ratio: false },
  { metric: 'Relayed pps at < 0.1 % loss (client → peer)', value: (r) => r.throughput?.maxPps, show: throughputCell, ratio: true },
  { metric: '  server CPU at that rate (% of one core)', value: (r) => r.throughput?.best?.serverCpuPct, show: (r) => fix(r.throughput?.best?.serverCpuPct, 0), ratio: false },
  { metric: '  server CPU per relayed packet there (µs, lower is better)', value: (r) => r.throughput?.serverCpuUsPerPacket, show: (r) => fix(r.throughput?.serverCpuUsPerPacket, 2), ratio: true },
  { metric: '  generator CPU at that rate (% of one core)', value: (r) => r.throughput?.best?.generatorCpuPct, show: (r) => fix(r.throughput?.best?.generatorCpuPct, 0), ratio: false },
  { metric: '  whole host busy at that rate (% of all cores)', value: (r) => r.throughput?.best?.hostBusyPct, show: (r) => fix(r.throughput?.best?.hostBusyPct, 0), ratio: false },
  { metric: '  whole-host CPU per relayed packet there (µs: server, kernel incl. softirq, and the generator; other processes excluded)', value: (r) => r.throughput?.hostCpuUsPerPacket, show: (r) => fix(r.throughput?.hostCpuUsPerPacket, 2), ratio: true },
  { metric: '  the generator alone at that rate (µs per datagram: the same datagrams sent straight to the peers, no server)', value: (r) => r.throughput?.generatorAloneUsPerPacket, show: (r) => fix(r.throughput?.generatorAloneUsPerPacket, 2), ratio: false },
  { metric: '  whole-host CPU the relaying adds per packet (µs: whole-host minus the generator alone; lower is better)', value: (r) => r.throughput?.relayHostCpuUsPerPacket, show: (r) => fix(r.throughput?.relayHostCpuUsPerPacket, 2), ratio: true },
  { metric: '  one-way latency at that rate, p50 / p99 (µs)', value: (r) => r.throughput?.best?.forward.p50Us, show: (r) => lat(r.throughput?.best?.forward), ratio: false },
  { metric: 'Latency at the fixed rate, client → peer p50 / p99 (µs, lower is better)', value: (r) => r.latency?.forward.p50Us, show: (r) => lat(r.latency?.forward), ratio: true },
  { metric: '  peer → client p50 / p99 (µs)', value: (r) => r.latency?.back.p50Us, show: (r) => lat(r.latency?.back), ratio: true },
  { metric: '  round trip p50 / p99 (µs)', value: (r) => r.latency?.roundTrip.p50Us, show: (r) => lat(r.latency?.roundTrip), ratio: true },
  { metric: '  loss there, forward / back (%)', value: () => undefined, show: (r) => (r.latency ? `${fix(r.latency.lossPct, 3)} / ${fix(r.latency.echoLossPct, 3)}` : '–'), ratio: false },
  { metric: 'Allocates per second (401 + authenticated Allocate)', value: (r) => r.allocations?.burst.perSecond, show: (r) => int(r.allocations?.burst.perSecond), ratio: true },
  { metric: 'Allocate + ChannelBind per second (401, Allocate, ChannelBind: the kernel entry, with offload)', value: (r) => r.allocations?.withChannel?.perSecond, show: (r) => int(r.allocations?.withChannel?.perSecond), ratio: true },
  { metric: '  handshake time p50 / p99 (ms)', value: (r) => r.allocations?.burst.handshake.p50Us, show: (r) => latMs(r.allocations?.burst.handshake), ratio: false },
  { metric: '  server CPU during the burst (%)', value: (r) => r.allocations?.serverCpuPct, show: (r) => fix(r.allocations?.serverCpuPct, 0), ratio: false },
  { metric: 'Memory per idle allocation (bytes of server RSS, lower is better)', value: (r) => r.allocations?.bytesPerAllocation, show: (r) => int(r.allocations?.bytesPerAllocation), ratio: true },
  { metric: '  server RSS before → after (MiB)', value: () => undefined, show: (r) => (r.allocations ? `${fix(r.allocations.rssBeforeKb / 1024)} → ${fix(r.allocations.rssAfterKb / 1024)}` : '–'), ratio: false },
];

/**
 * The highest offered rate that every server relaying ChannelData passed: comparing the CPU each needed at the same
 * rate is fair even when the generator, not the server, ended a search.
 */
export function commonRate(runs: ServerRun[]): number | undefined {
  const eligible = runs.filter((r) => r.throughput && r.framing === 'channel-data');
  if (eligible.length < 2) return undefined;
  let best: number | undefined;
  for (const s of eligible[0].throughput!.steps) {
    if (s.outcome !== 'pass') continue;
    const rate = s.offeredPps;
    if (eligible.every((r) => r.throughput!.steps.some((x) => x.offeredPps === rate && x.outcome === 'pass'))) {
      if (best === undefined || rate > best) best = rate;
    }
  }
  return best;
}

function cpuAtRate(r: ServerRun, rate: number | undefined): number | undefined {
  if (rate === undefined || r.framing !== 'channel-data') return undefined;
  const steps = r.throughput?.steps.filter((x) => x.offeredPps === rate && x.outcome === 'pass') ?? [];
  return steps.length ? steps[steps.length - 1].serverCpuPct : undefined;
}

function table(header: string[], rows: string[][]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [`| ${header.map(esc).join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map(esc).join(' | ')} |`);
  return lines.join('\n');
}

function summaryTable(rep: BenchReport): string {
  const runs = rep.runs;
  // Ratio columns: each anyturn variant measured ÷ each coturn measured.
  const pairs: { a: ServerRun; c: ServerRun; label: string }[] = [];
  for (const a of runs.filter((r) => r.kind === 'anyturn' || r.kind === 'anyturn-offload')) {
    for (const c of runs.filter((r) => r.kind === 'coturn-1' || r.kind === 'coturn')) {
      const name = a.kind === 'anyturn' ? 'anyturn' : 'anyturn offload';
      pairs.push({ a, c, label: `${name} ÷ coturn ${c.kind === 'coturn-1' ? '1 thread' : 'default'}` });
    }
  }
  const header = ['metric', ...runs.map((r) => SERVER_LABELS[r.kind]), ...pairs.map((p) => p.label)];
  const rate = commonRate(runs);
  const extra: Row[] =
    rate === undefined
      ? []
      : [
          {
            metric: `Server CPU at ${int(rate)} pps, the highest rate all passed (% of one core, lower is better)`,
            value: (r) => cpuAtRate(r, rate),
            show: (r) => fix(cpuAtRate(r, rate), 0),
            ratio: true,
          },
        ];
  const all = [...ROWS.slice(0, 10), ...extra, ...ROWS.slice(10)];
  const rows = all.map((row) => {
    const cells = [row.metric.startsWith('  ') ? `↳ ${row.metric.trim()}` : `**${row.metric}**`];
    for (const r of runs) cells.push(r.error && !r.throughput && !r.allocations ? 'n/a' : row.show(r));
    for (const p of pairs) cells.push(row.ratio ? ratio(row.value(p.a), row.value(p.c)) : '');
    return cells;
  });
  return table(header, rows);
}

/** Issue 7's goals for the kernel fast path: ≥ 3× coturn's pps, ≤ 0.3× its whole-host CPU per packet. */
function offloadGoals(rep: BenchReport): string[] {
  const off = rep.runs.find((r) => r.kind === 'anyturn-offload');
  if (!off || off.error) return off?.error ? [`- anyturn with eBPF offload was not measured: ${off.error.split('\n')[0]}`] : [];
  const lines: string[] = [];
  for (const k of ['coturn-1', 'coturn'] as const) {
    const c = rep.runs.find((r) => r.kind === k);
    if (!c || c.error) continue;
    const pps = (off.throughput?.maxPps ?? 0) / (c.throughput?.maxPps ?? Infinity);
    const cpu = (off.throughput?.hostCpuUsPerPacket ?? Infinity) / (c.throughput?.hostCpuUsPerPacket ?? NaN);
    const added = (off.throughput?.relayHostCpuUsPerPacket ?? Infinity) / (c.throughput?.relayHostCpuUsPerPacket ?? NaN);
    const al = (off.allocations?.burst.perSecond ?? 0) / (c.allocations?.burst.perSecond ?? Infinity);
    const withChannel = (off.allocations?.withChannel?.perSecond ?? 0) / (c.allocations?.withChannel?.perSecond ?? Infinity);
    const bound = off.throughput?.limitedBy === 'generator' ? ' (anyturn offload\'s figure is a floor: the generator ran out first)' : '';
    lines.push(
      `- eBPF offload vs ${SERVER_LABELS[k]}: relayed pps ${pps.toFixed(2)}× (goal ≥ 3×: ${pps >= 3 ? 'reached' : 'NOT reached'})${bound}; ` +
        `whole-host CPU per relayed packet ${Number.isFinite(cpu) ? cpu.toFixed(2) : '–'}× (goal ≤ 0.3×: ${cpu <= 0.3 ? 'reached' : 'NOT reached'}; ` +
        `the generator's own cost is in both: without it, what relaying adds ${Number.isFinite(added) ? added.toFixed(2) : '–'}×); ` +
        `Allocates/s ${al.toFixed(2)}× (goal ≥ 1.0×: ${al >= 1 ? 'reached' : 'NOT reached'}); ` +
        `Allocate + ChannelBind/s ${withChannel.toFixed(2)}× (goal ≥ 1.0×: ${withChannel >= 1 ? 'reached' : 'NOT reached'}).`,
    );
  }
  return lines;
}

function goals(rep: BenchReport): string {
  const get = (k: ServerKind): ServerRun | undefined => rep.runs.find((r) => r.kind === k);
  const any = get('anyturn');
  if (!any || any.error) {
    const why = `anyturn was not measured${any?.error ? `: ${any.error.split('\n')[0]}` : ''}.`;
    return [why, ...offloadGoals(rep)].join('\n');
  }
  const lines: string[] = [];
  for (const k of ['coturn-1', 'coturn'] as const) {
    const c = get(k);
    if (!c || c.error) continue;
    const pps = ratio(any.throughput?.maxPps, c.throughput?.maxPps);
    const al = ratio(any.allocations?.burst.perSecond, c.allocations?.burst.perSecond);
    const ppsOk = (any.throughput?.maxPps ?? 0) >= (c.throughput?.maxPps ?? Infinity);
    const alOk = (any.allocations?.burst.perSecond ?? 0) >= (c.allocations?.burst.perSecond ?? Infinity);
    const caveat = c.throughput?.limitedBy === 'generator' ? ` (coturn's figure is a floor: the generator ran out first)` : '';
    lines.push(
      `- vs ${SERVER_LABELS[k]}: relayed pps ${pps} (goal ≥ 1.0×: ${ppsOk ? 'reached' : 'NOT reached'})${caveat}; ` +
        `Allocates/s ${al} (goal ≥ 1.0×: ${alOk ? 'reached' : 'NOT reached'}).`,
    );
  }
  const rate = commonRate(rep.runs);
  const c1 = get('coturn-1');
  if (rate !== undefined && c1) {
    lines.push(
      `- server CPU at the same rate (${int(rate)} pps, which every server passed): anyturn ` +
        `${fix(cpuAtRate(any, rate), 0)} % of a core, coturn with 1 relay thread ${fix(cpuAtRate(c1, rate), 0)} % ` +
        `(${ratio(cpuAtRate(any, rate), cpuAtRate(c1, rate))}).`,
    );
  }
  const mem = any.allocations?.bytesPerAllocation;
  if (mem !== undefined) {
    lines.push(`- memory per idle allocation: ${int(mem)} bytes (goal ≤ 4096: ${mem <= 4096 ? 'reached' : 'NOT reached'}).`);
  }
  lines.push(...offloadGoals(rep));
  return lines.join('\n');
}

function stepsTable(r: ServerRun): string {
  const t = r.throughput;
  if (!t) return `_${r.error ?? 'not measured'}_`;
  return table(
    ['offered pps', 'sent pps', 'loss %', 'server CPU %', 'generator CPU %', 'others CPU %', 'host busy %', 'p50 / p99 µs', 'drops srv / gen', 'result'],
    t.steps.map((s) => [
      int(s.offeredPps),
      int(s.achievedPps),
      fix(s.lossPct, 3),
      fix(s.serverCpuPct, 0),
      fix(s.generatorCpuPct, 0),
      fix(s.otherCpuPct, 0),
      fix(s.hostBusyPct, 0),
      lat(s.forward),
      `${int(s.drops.serverListen + s.drops.serverRelay)} / ${int(s.drops.generatorPeers + s.drops.generatorClients)}`,
      s.outcome,
    ]),
  );
}

function allocationsTable(rep: BenchReport): string {
  return table(
    ['server', 'allocations', 'failed', 'time (s)', 'per second', 'retransmits', 'errors', 'generator CPU %', 'others CPU %', 'RSS before → after (KiB)', 'deleted (s)'],
    rep.runs.map((r) => {
      const a = r.allocations;
      if (!a) return [SERVER_LABELS[r.kind], '–', '–', '–', '–', '–', r.error ? 'n/a' : '–', '–', '–', '–', '–'];
      const errs = Object.entries(a.burst.errors).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
      return [
        SERVER_LABELS[r.kind],
        int(a.burst.ok),
        int(a.burst.failed),
        fix(a.burst.elapsedMs / 1000, 2),
        int(a.burst.perSecond),
        int(a.burst.retransmits),
        errs,
        fix(a.burst.generatorCpuPct, 0),
        `${fix(a.otherCpuPct, 0)}${a.disturbedRetries ? ` (${a.disturbedRetries} redone)` : ''}`,
        `${int(a.rssBeforeKb)} → ${int(a.rssAfterKb)}`,
        `${fix(a.release.elapsedMs / 1000, 2)}${a.release.failed ? ` (${a.release.failed} failed)` : ''}`,
      ];
    }),
  );
}

function profilesSection(profiles: ProfileSummary[]): string {
  if (profiles.length === 0) return '_No profile taken in this run (anyturn was not short, or profiling was off)._';
  return profiles
    .map((p) => {
      const head = `#### anyturn profile: ${p.activity}\n\n${p.description}. Samples: ${int(p.totalMs)} ms of CPU ` +
        `(${fix(p.idlePct)} % idle).\n\n`;
      const fns = table(
        ['self %', 'self ms', 'function', 'where'],
        p.top.map((f) => [fix(f.pct), int(f.selfMs), f.name, f.location]),
      );
      const files = table(['self %', 'file / category'], p.byFile.map((f) => [fix(f.pct), f.file]));
      const v8 = `${head}V8 CPU profile (JavaScript view; time in native code and syscalls is charged to the JavaScript ` +
        `function that called it). Top functions by self time:\n\n${fns}\n\nBy file:\n\n${files}`;
      if (!p.perf) return v8;
      const dsos = table(['% of samples', 'binary'], p.perf.byDso.map((d) => [fix(d.pct), d.dso]));
      const syms = table(['%', 'binary', 'symbol'], p.perf.top.map((t) => [fix(t.pct), t.dso, t.symbol]));
      return `${v8}\n\nThe same window seen by \`perf record -e cpu-clock\` (whole process, kernel included). By binary:\n\n` +
        `${dsos}\n\nTop symbols:\n\n${syms}`;
    })
    .join('\n\n');
}

export function renderReport(rep: BenchReport): string {
  const m = rep.machine;
  const o = rep.options;
  const errors = rep.runs.filter((r) => r.error).map((r) => `- ${SERVER_LABELS[r.kind]}: ${r.error}`);
  const notes = rep.runs.flatMap((r) => r.notes.map((n) => `- ${SERVER_LABELS[r.kind]}: ${n}`));
  return [
    '# Benchmarks',
    '',
    `Produced by \`${rep.command}\` on ${rep.startedAt} (${fix(rep.durationS, 0)} s). Every number below comes from ` +
      'that one run: the same load generator, machine and settings against each server, one server at a time.',
    '',
    '## Machine',
    '',
    table(
      ['', ''],
      [
        ['CPU', `${m.cpuModel}, nproc = ${m.nproc}`],
        ['memory', `${m.memoryGb} GiB`],
        ['kernel', m.kernel],
        ['Node.js', m.node],
        ['coturn', m.coturn],
        ['node-turn', m.nodeTurn],
        ['net.core.rmem_default / rmem_max', `${m.rmemDefault} / ${m.rmemMax}`],
      ],
    ),
    '',
    '## Summary',
    '',
    summaryTable(rep),
    '',
    `Settings: ${o.flows} flows (allocations with a channel to a peer socket), ${o.payloadBytes}-byte payloads ` +
      `(ChannelData of ${o.payloadBytes + 4} bytes), steps of ${o.stepMs} ms starting at ${int(o.startPps)} pps ×${o.stepFactor}, ` +
      `pass = loss < ${o.lossPct} %; fixed-rate latency at ${int(o.latencyPps)} pps each way with the peers echoing ` +
      `(${o.latencyMs} ms); ${int(o.idleAllocations)} idle allocations created ${o.allocConcurrency} at a time.`,
    '',
    '### Goals (issue 2)',
    '',
    goals(rep),
    ...(errors.length ? ['', '### Errors', '', ...errors] : []),
    ...(notes.length ? ['', '### Run notes', '', ...notes] : []),
    '',
    '## Notes',
    '',
    NOTES_BEGIN,
    rep.notes.trim() || '_No notes yet._',
    NOTES_END,
    '',
    '## Throughput search (client → relay → peer)',
    '',
    ...rep.runs.flatMap((r) => [`### ${SERVER_LABELS[r.kind]}`, '', stepsTable(r), '']),
    '## Allocations',
    '',
    allocationsTable(rep),
    '',
    '## Where anyturn spends its time',
    '',
    profilesSection(rep.profiles),
    '',
    '## Commands',
    '',
    ...rep.runs.filter((r) => r.command).map((r) => `- ${SERVER_LABELS[r.kind]}: \`${r.command}\``),
    '',
    '## Method',
    '',
    METHOD,
    '',
  ].join('\n');
}

/** Extracts the hand-written notes from an earlier report ('' when none). */
export function extractNotes(previous: string): string {
  const a = previous.indexOf(NOTES_BEGIN);
  const b = previous.indexOf(NOTES_END);
  if (a < 0 || b < a) return '';
  const text = previous.slice(a + NOTES_BEGIN.length, b).trim();
  return text === '_No notes yet._' ? '' : text;
}

const METHOD = `- The load generator (test/bench/generator.ts, ours, TypeScript on our codec src/stun) runs in its own process,
  separate from the server under test and from the orchestrator (test/bench/run.ts). Its CPU use is reported so
  the reader can tell when it, rather than the server, was the limit: a step counts as *generator-bound* when the
  generator could not send at the offered rate or when the kernel dropped datagrams in the generator's own sockets
  (/proc/net/udp drop counters are read before and after each step for the server's and the generator's sockets).
- Servers run one at a time on 127.0.0.1 with long-term credentials (user bench, realm bench) and the same relay
  port range; each is started fresh, its readiness checked with a STUN Binding.
- Allocations: K client sockets (one 5-tuple each) are opened first (not timed); then K full handshakes
  (Allocate → 401 → authenticated Allocate with MESSAGE-INTEGRITY and FINGERPRINT) run with bounded concurrency;
  Allocates per second = successes / wall time. The allocations are then held idle; memory per allocation =
  (server VmRSS after, once stable − VmRSS before) / K, from /proc/<pid>/status. A warm-up burst runs first.
- Throughput: F allocations, each with CreatePermission and ChannelBind to its own peer socket. ChannelData goes
  from the clients to the relay at a set rate (batches on a 1 ms timer, round-robin over the clients, preallocated
  buffers); the peers count what arrives and the payload carries a step id, sequence number and send time (one-way
  latency, same host clock). The offered rate is multiplied by the step factor while a step passes, then bisected
  between the last passing and the first failing rate; a failing step is retried once. Relayed pps is the highest
  passing offered rate. Server CPU is read from /proc/<pid>/stat over the sending window (all threads).
- Latency: the same flows at a fixed rate, the peers echoing every datagram back through the relay
  (client → peer, peer → client one-way, and round trip).
- Loopback only: no NIC, no interrupts; both the generator and the server share ${'`nproc`'} cores, so absolute
  numbers are about software cost per packet, and the ratios are what carries over.`;
