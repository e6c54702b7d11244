/**
 * The offload addon (relay/offload/native/bpf-addon.c, built by `npm install` with node-gyp): the few kernel calls
 * the fast path needs. Loaded once; when it is missing (no compiler on the host, build failed) the reason is
 * returned instead, and the relay runs the userspace data path.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BpfAddon {
  /** Loads an eBPF ELF object; fds of its program and of every map by name. */
  load(object: Buffer, program: string): { prog: number; maps: Record<string, number> };
  /** Attaches a program at tcx ingress of an interface; the link lives as long as the returned fd. */
  attachIngress(prog: number, ifname: string): number;
  /** 0 or an errno. */
  update(map: number, key: Buffer, value: Buffer): number;
  /** 0 or an errno (ENOENT: no such entry). */
  remove(map: number, key: Buffer): number;
  /** Reads an entry into `value`: 0 or an errno. */
  lookup(map: number, key: Buffer, value: Buffer): number;
  /** Read-only view of a BPF_F_MMAPABLE array map. */
  mmapArray(map: number, bytes: number): ArrayBuffer;
  close(fd: number): void;
  /** CLOCK_MONOTONIC in ns: the clock of bpf_ktime_get_ns(). */
  monotonicNs(): bigint;
}

/** The repository root, from dist/relay/offload (compiled) or relay/offload (sources under vitest). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root not found');
}

export const ADDON_PATH = join(repoRoot(), 'relay', 'offload', 'native', 'build', 'Release', 'anyturn_bpf.node');

let cached: BpfAddon | string | undefined;

/** The addon, or why it is not there. */
export function loadBpfAddon(): BpfAddon | string {
  if (cached !== undefined) return cached;
  if (!existsSync(ADDON_PATH)) {
    cached = `the offload addon was not built (${ADDON_PATH} missing; see the npm install output)`;
    return cached;
  }
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as BpfAddon;
  } catch (err) {
    cached = `the offload addon does not load: ${(err as Error).message}`;
  }
  return cached;
}
