/**
 * How many stream connections the relay may hold: below the process's file-descriptor limit (RLIMIT_NOFILE),
 * with room left for what must keep working while connections pile up: one relayed UDP socket per allocation
 * (`capacity`), and the control plane (listeners, /healthz and /metrics, the cluster store, log files, DNS).
 *
 *   stream connections = soft RLIMIT_NOFILE - capacity - CONTROL_PLANE_FDS, at least MIN_STREAM_CONNECTIONS
 *
 * Node has no getrlimit: Linux tells it in /proc/self/limits ("Max open files  <soft>  <hard>  files").
 */
import { readFileSync } from 'node:fs';

/** Descriptors kept for the control plane besides the relayed sockets. */
export const CONTROL_PLANE_FDS = 256;
/** The derived limit never goes below this (a tiny fd limit is reported by fdBudget's `short`). */
export const MIN_STREAM_CONNECTIONS = 64;
/** Assumed when /proc/self/limits cannot be read (the usual default soft limit). */
export const FALLBACK_NOFILE = 1024;

/** The soft RLIMIT_NOFILE of this process ('unlimited' reads as Infinity). */
export function softNoFileLimit(limitsText?: string): number {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return FALLBACK_NOFILE;
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : FALLBACK_NOFILE;
}

export interface FdBudget {
  /** The soft RLIMIT_NOFILE. */
  noFile: number;
  /** Stream connections allowed in all. */
  streamConnections: number;
  /** True when the fd limit cannot hold capacity + control plane + MIN_STREAM_CONNECTIONS: raise LimitNOFILE. */
  short: boolean;
}

/** The default total of stream connections for a relay of `capacity` allocations. */
export function fdBudget(capacity: number, noFile: number = softNoFileLimit()): FdBudget {
  const room = noFile - capacity - CONTROL_PLANE_FDS;
  const streamConnections = Number.isFinite(room) ? Math.max(MIN_STREAM_CONNECTIONS, Math.floor(room)) : 1_000_000;
  return { noFile, streamConnections, short: room < MIN_STREAM_CONNECTIONS };
}
