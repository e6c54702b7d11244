/**
 * Reading the kernel's view of a process and of UDP sockets (Linux /proc): resident memory, CPU time, per-socket
 * receive drops, and a description of the machine for the report.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** VmRSS of a process in KiB (from /proc/<pid>/status); NaN when the process is gone. */
export function readRssKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU seconds consumed so far by a process (all its threads); NaN when gone. */
export function readCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return (utime + stime) / ticksPerSecond();
  } catch {
    return Number.NaN;
  }
}

/** A CPU-time sampler for several processes: `stop()` gives each one's CPU use in % of one core. */
export function cpuSampler(pids: number[]): { stop(): number[] } {
  const t0 = performance.now();
  const c0 = pids.map(readCpuSeconds);
  return {
    stop(): number[] {
      const wall = (performance.now() - t0) / 1000;
      return pids.map((pid, i) => (100 * (readCpuSeconds(pid) - c0[i])) / wall);
    },
  };
}

const PF_KTHREAD = 0x00200000;

/**
 * CPU seconds used so far by every user-space process on the host except `exclude` (kernel threads skipped).
 * Used to tell when other work (another test suite, a compiler) took the cores during a measurement.
 */
function otherProcessesCpu(exclude: ReadonlySet<number>): Map<number, number> {
  const out = new Map<number, number>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  const tick = ticksPerSecond();
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const pid = Number(name);
    if (exclude.has(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if ((Number(rest[6]) & PF_KTHREAD) !== 0) continue;
    out.set(pid, (Number(rest[11]) + Number(rest[12])) / tick);
  }
  return out;
}

/** Samples the CPU use of every other process: `stop()` gives their total in % of one core. */
export function otherCpuSampler(exclude: ReadonlySet<number>): { stop(): number } {
  const t0 = performance.now();
  const c0 = otherProcessesCpu(exclude);
  return {
    stop(): number {
      const wall = (performance.now() - t0) / 1000;
      let used = 0;
      for (const [pid, cpu] of otherProcessesCpu(exclude)) used += cpu - (c0.get(pid) ?? 0);
      return wall > 0 ? (100 * used) / wall : 0;
    },
  };
}

/** Jiffies of the whole host since boot (first line of /proc/stat): all, and idle + iowait. */
export function readHostCpu(): { total: number; idle: number } {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: v.reduce((a, b) => a + b, 0), idle: v[3] + v[4] };
  } catch {
    return { total: Number.NaN, idle: Number.NaN };
  }
}

/** Busy share of the whole host (all cores) between two readHostCpu() samples, in %. */
export function hostBusyPct(a: { total: number; idle: number }, b: { total: number; idle: number }): number {
  const total = b.total - a.total;
  return total > 0 ? (100 * (total - (b.idle - a.idle))) / total : Number.NaN;
}

export interface UdpSocketStats {
  /** Datagrams dropped because the socket's receive buffer was full (cumulative since the socket opened). */
  drops: number;
  /** Bytes waiting in receive queues right now. */
  rxQueue: number;
}

/**
 * Sums the receive drops of IPv4 UDP sockets bound to any of `ports` on this host (/proc/net/udp, this network
 * namespace). Used to tell whether a loss happened in the server's sockets or in the load generator's.
 */
export function udpStats(ports: ReadonlySet<number>): UdpSocketStats {
  let drops = 0;
  let rxQueue = 0;
  let text: string;
  try {
    text = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return { drops: Number.NaN, rxQueue: Number.NaN };
  }
  let start = text.indexOf('\n') + 1;
  while (start > 0 && start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line.length === 0) continue;
    const f = line.split(/\s+/);
    const local = f[1];
    const port = parseInt(local.slice(local.indexOf(':') + 1), 16);
    if (!ports.has(port)) continue;
    const queues = f[4].split(':');
    rxQueue += parseInt(queues[1], 16);
    drops += Number(f[f.length - 1]);
  }
  return { drops, rxQueue };
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryGb: number;
  kernel: string;
  node: string;
  coturn: string;
  nodeTurn: string;
  rmemDefault: string;
  rmemMax: string;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return fallback;
  }
}

export function machineInfo(nodeTurnVersion: string): MachineInfo {
  const cpuinfo = readOr('/proc/cpuinfo', '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const memKb = Number(/^MemTotal:\s+(\d+)/m.exec(readOr('/proc/meminfo', ''))?.[1] ?? 0);
  let coturn = 'not installed';
  try {
    coturn = execFileSync('turnserver', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    /* not installed */
  }
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    /* keep os.cpus() */
  }
  return {
    nproc,
    cpuModel: model.trim(),
    memoryGb: Math.round(memKb / 1024 / 1024),
    kernel: readOr('/proc/sys/kernel/osrelease', 'unknown'),
    node: process.version,
    coturn,
    nodeTurn: nodeTurnVersion,
    rmemDefault: readOr('/proc/sys/net/core/rmem_default', '?'),
    rmemMax: readOr('/proc/sys/net/core/rmem_max', '?'),
  };
}

/** Above this much CPU (in % of one core) used by other processes, a measurement counts as disturbed. */
export const DISTURBED_OTHER_CPU_PCT = 20;
/** The host counts as quiet below this busy share (all cores). */
export const QUIET_BUSY_PCT = 15;

/**
 * Waits (at most `maxWaitMs`) until the host is quiet: less than QUIET_BUSY_PCT busy over a 1 s window (other
 * work on a shared machine would otherwise steal the cores the server and the generator need). Returns the
 * busy share of the last window.
 */
export async function waitForQuietHost(maxWaitMs: number, log: (line: string) => void): Promise<number> {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const a = readHostCpu();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = hostBusyPct(a, readHostCpu());
    if (busy < QUIET_BUSY_PCT || Date.now() > deadline) return busy;
    log(`  host ${busy.toFixed(0)} % busy with other work; waiting for it to calm down`);
  }
}
