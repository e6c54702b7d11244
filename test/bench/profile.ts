/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, a .cpuprofile JSON file): self time per function and per file,
 * to say where anyturn spends its time when it is short of coturn.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './paths.js';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  startTime: number;
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  activity: string;
  description: string;
  totalMs: number;
  idlePct: number;
  /** Percentages are of the non-idle time. */
  top: { name: string; location: string; selfMs: number; pct: number }[];
  byFile: { file: string; pct: number }[];
  /** The same window seen by perf (kernel included), when perf is installed. */
  perf?: PerfSummary;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  let u = url.startsWith('file://') ? url.slice(7) : url;
  if (u.startsWith(REPO_ROOT)) u = relative(REPO_ROOT, u);
  return u;
}

/** CLOCK_MONOTONIC in microseconds: the clock of V8's profile timestamps on Linux. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Summarises the newest .cpuprofile file in `dir`, counting only samples taken within `window` (monotonic µs,
 * see monotonicUs) so that start-up and shutdown do not dilute the activity measured.
 */
export function summarizeProfileDir(
  dir: string,
  activity: string,
  description: string,
  window?: { fromUs: number; toUs: number },
  topN = 20,
): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  if (files.length === 0) throw new Error(`no .cpuprofile written in ${dir}`);
  const prof = JSON.parse(readFileSync(join(dir, files[files.length - 1]), 'utf8')) as CpuProfile;
  const byId = new Map<number, CpuProfileNode>();
  for (const n of prof.nodes) byId.set(n.id, n);
  const collect = (w: { fromUs: number; toUs: number } | undefined): Map<number, number> => {
    const selfUs = new Map<number, number>();
    let t = prof.startTime;
    for (let i = 0; i < prof.samples.length; i++) {
      const dt = prof.timeDeltas[i] ?? 0;
      t += dt;
      if (w && (t < w.fromUs || t > w.toUs)) continue;
      const id = prof.samples[i];
      selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    }
    return selfUs;
  };
  let selfUs = collect(window);
  if (selfUs.size === 0) selfUs = collect(undefined); // clocks did not line up: whole lifetime
  const fn = new Map<string, { name: string; location: string; us: number }>();
  const file = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const cf = n.callFrame;
    total += us;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const url = shortUrl(cf.url);
    const name = cf.functionName || (url ? '(anonymous)' : '(native)');
    const location = url ? `${url}:${cf.lineNumber + 1}` : '';
    const key = `${name}\u0000${location}`;
    const e = fn.get(key) ?? { name, location, us: 0 };
    e.us += us;
    fn.set(key, e);
    const fk = url || name;
    file.set(fk, (file.get(fk) ?? 0) + us);
  }
  const busy = total - idle || 1;
  return {
    activity,
    description,
    totalMs: total / 1000,
    idlePct: total > 0 ? (100 * idle) / total : 0,
    top: [...fn.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, topN)
      .map((e) => ({ name: e.name, location: e.location, selfMs: e.us / 1000, pct: (100 * e.us) / busy })),
    byFile: [...file.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([f, us]) => ({ file: f, pct: (100 * us) / busy })),
  };
}

export interface PerfSummary {
  /** Share of the process's CPU samples per binary: the kernel, node itself, libc, JIT-compiled JavaScript. */
  byDso: { dso: string; pct: number }[];
  top: { pct: number; dso: string; symbol: string }[];
}

export interface PerfRecording {
  stop(): Promise<PerfSummary | undefined>;
}

function perfAvailable(): boolean {
  return ['/usr/bin/perf', '/usr/local/bin/perf'].some((p) => existsSync(p));
}

/** Node flags that let perf name JIT-compiled JavaScript (when perf is installed). */
export function perfNodeArgs(): string[] {
  return perfAvailable() ? ['--perf-basic-prof'] : [];
}

/**
 * Samples a process with `perf record -e cpu-clock` (kernel and user space, which the V8 profile cannot split:
 * it charges a syscall to the JavaScript function that made it) until stop(). Undefined when perf is missing.
 */
export function startPerf(pid: number, dir: string): PerfRecording | undefined {
  if (!perfAvailable()) return undefined;
  const data = join(dir, 'perf.data');
  const child = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '1999', '-p', String(pid), '-o', data], {
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  return {
    async stop(): Promise<PerfSummary | undefined> {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      if (!existsSync(data)) return undefined;
      const report = (args: string[]): string[] => {
        try {
          return execFileSync('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', ...args], {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'ignore'],
            maxBuffer: 16 * 1024 * 1024,
          })
            .split('\n')
            .filter((l) => l.trim() !== '' && !l.startsWith('#'));
        } catch {
          return [];
        }
      };
      const byDso = report(['--sort', 'dso'])
        .map((l) => /^\s*([\d.]+)%\s+(.+?)\s*$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .slice(0, 8)
        .map((m) => ({ dso: m[2].replace(/^\[JIT\] tid \d+$/, '[JIT] (JavaScript)'), pct: Number(m[1]) }));
      const top = report(['--sort', 'dso,sym', '--percent-limit', '0.5'])
        .map((l) => /^\s*([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[.\]\s+(.+?)\s*$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .slice(0, 25)
        .map((m) => ({ pct: Number(m[1]), dso: m[2].replace(/^\[JIT\] tid \d+$/, '[JIT]'), symbol: m[3] }));
      return { byDso, top };
    },
  };
}

/** Removes the perf map file node writes with --perf-basic-prof. */
export function removePerfMap(pid: number): void {
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}
