/**
 * The loaded kernel fast path: the eBPF program of relay/offload/bpf attached at tcx ingress of some interfaces,
 * its maps, and the per-flow counters (an mmap'ed array, read without a syscall). Installing or removing an
 * entry is one bpf() call per direction (a few microseconds).
 *
 * Nothing is pinned: the program, its links and its maps belong to this process's file descriptors, so when the
 * process ends (close(), exit, SIGKILL) the kernel detaches the program and frees every entry. A restarted relay
 * starts from empty maps: no entry of a dead process can relay anything.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnyturnError } from '../../src/errors.js';
import { FLOW_STATS_BYTES, MAP_NAMES, MAX_FLOWS, c2pKey, c2pValue, p2cKey, p2cValue, type FlowSpec } from './flow-entry.js';
import { repoRoot } from '../native-addon.js';
import type { BpfAddon } from './native.js';

export const BPF_OBJECT_PATH = join(repoRoot(), 'relay', 'offload', 'bpf', 'channel-data.bpf.o');
const PROGRAM = 'anyturn_channel_data';

/** Packets and payload bytes of one flow, both directions (monotonic). */
export interface FlowCounters {
  c2pPackets: number;
  c2pBytes: number;
  p2cPackets: number;
  p2cBytes: number;
}

export class KernelFastPath {
  readonly interfaces: readonly string[];
  readonly #addon: BpfAddon;
  readonly #prog: number;
  /** Map fds by family: client → peer and peer → client. */
  readonly #maps: { 4: { c2p: number; p2c: number }; 6: { c2p: number; p2c: number } };
  readonly #statsFd: number;
  readonly #stats: DataView;
  readonly #links: number[];
  /** The program's and every map's fd. */
  readonly #fds: number[];
  #closed = false;

  /**
   * Loads the program and attaches it to every interface. Throws AnyturnError ATN_ERR_OFFLOAD_UNAVAILABLE with
   * the kernel's reason (no privileges, no tcx, unknown interface); nothing stays attached then.
   */
  constructor(addon: BpfAddon, interfaces: readonly string[]) {
    this.#addon = addon;
    this.interfaces = interfaces;
    let loaded: { prog: number; maps: Record<string, number> };
    try {
      loaded = addon.load(readFileSync(BPF_OBJECT_PATH), PROGRAM);
    } catch (err) {
      throw new AnyturnError('ATN_ERR_OFFLOAD_UNAVAILABLE', `the eBPF program does not load: ${(err as Error).message}`);
    }
    const fds = [loaded.prog, ...Object.values(loaded.maps)];
    this.#fds = fds;
    this.#links = [];
    try {
      this.#prog = loaded.prog;
      const of = (family: 4 | 6) => ({ c2p: mapFd(loaded.maps, MAP_NAMES[family].c2p), p2c: mapFd(loaded.maps, MAP_NAMES[family].p2c) });
      this.#maps = { 4: of(4), 6: of(6) };
      this.#statsFd = mapFd(loaded.maps, 'flow_stats');
      this.#stats = new DataView(addon.mmapArray(this.#statsFd, MAX_FLOWS * FLOW_STATS_BYTES));
      for (const ifname of interfaces) this.#links.push(addon.attachIngress(this.#prog, ifname));
    } catch (err) {
      for (const fd of [...this.#links, ...fds]) addon.close(fd);
      throw new AnyturnError('ATN_ERR_OFFLOAD_UNAVAILABLE', (err as Error).message);
    }
  }

  /** Installs or replaces both directions of a flow. 0 or an errno (nothing installed then). */
  install(flow: FlowSpec, slot: number, expiresNs: bigint): number {
    if (this.#closed) return 9; // EBADF
    const a = this.#addon;
    const maps = this.#maps[flow.family];
    // Either direction alone is a valid state (the other one is then relayed in userspace).
    const err = a.update(maps.p2c, p2cKey(flow), p2cValue(flow, slot, expiresNs));
    if (err !== 0) return err;
    const err2 = a.update(maps.c2p, c2pKey(flow), c2pValue(flow, slot, expiresNs));
    if (err2 !== 0) a.remove(maps.p2c, p2cKey(flow));
    return err2;
  }

  /** Removes both directions (idempotent). */
  remove(flow: FlowSpec): void {
    if (this.#closed) return;
    const maps = this.#maps[flow.family];
    this.#addon.remove(maps.c2p, c2pKey(flow));
    this.#addon.remove(maps.p2c, p2cKey(flow));
  }

  /** The counters of a slot now (read from shared memory). */
  counters(slot: number, into: FlowCounters): FlowCounters {
    const s = this.#stats;
    const at = slot * FLOW_STATS_BYTES;
    into.c2pPackets = Number(s.getBigUint64(at, true));
    into.c2pBytes = Number(s.getBigUint64(at + 8, true));
    into.p2cPackets = Number(s.getBigUint64(at + 16, true));
    into.p2cBytes = Number(s.getBigUint64(at + 24, true));
    return into;
  }

  /** CLOCK_MONOTONIC ns (the program's clock for expiry). */
  monotonicNs(): bigint {
    return this.#addon.monotonicNs();
  }

  /** Detaches the program and frees its maps (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of [...this.#links, ...this.#fds]) this.#addon.close(fd);
  }
}

function mapFd(maps: Record<string, number>, name: string): number {
  const fd = maps[name];
  if (fd === undefined) throw new Error(`the eBPF object has no map ${name}`);
  return fd;
}
