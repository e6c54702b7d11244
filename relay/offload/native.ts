/**
 * The offload addon (relay/offload/native/bpf-addon.c, built by `npm install` with node-gyp): the few kernel calls
 * the fast path needs. Loaded once; when it is missing (no compiler on the host, build failed) the reason is
 * returned instead, and the relay runs the userspace data path.
 */
import { join } from 'node:path';
import { addonPath, loadAddon } from '../native-addon.js';

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

export const ADDON_PATH = addonPath(join('relay', 'offload', 'native'), 'anyturn_bpf');

/** The addon, or why it is not there. */
export function loadBpfAddon(): BpfAddon | string {
  return loadAddon<BpfAddon>(ADDON_PATH, 'offload');
}
