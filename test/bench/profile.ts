/**
 * Summarises a V8 CPU profile (`node --cpu-prof`, a .cpuprofile JSON file): self time per function and per file,
 * to say where anyturn spends its time when it is short of coturn.
 */
import { readdirSync, readFileSync } from 'node:fs';
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
