/**
 * `--offload auto|on|off`: whether the relay attaches the kernel fast path, decided once at start-up, before any
 * listener answers.
 *   off  → userspace only.
 *   on   → the fast path or no relay: ATN_ERR_OFFLOAD_UNAVAILABLE with the reason.
 *   auto → the fast path where the addon, the kernel and the privileges allow it; otherwise one log line saying
 *          why, and userspace.
 * A bandwidth cap (max-bps) is enforced in userspace, so it keeps every allocation there (the config refuses
 * `on` with max-bps).
 */
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { OffloadMode } from '../../src/config/schema.js';
import { interfaceOf } from './egress.js';
import { KernelFastPath } from './kernel-fast-path.js';
import { loadBpfAddon } from './native.js';

export interface OffloadPlan {
  mode: OffloadMode;
  /** Unicast listen addresses and relay addresses (the kernel serves clients of specific ones). */
  listen: readonly string[];
  relayIp: readonly string[];
  maxBps: number;
}

/** The attached fast path, or undefined (userspace) with the reason logged. Throws for `on` without it. */
export function setUpOffload(plan: OffloadPlan, log: Logger): KernelFastPath | undefined {
  if (plan.mode === 'off') {
    log.info('offload off: UDP ChannelData is relayed in userspace');
    return undefined;
  }
  const reason = unavailableReason(plan);
  let kernel: KernelFastPath | undefined;
  let why = reason;
  if (reason === undefined) {
    try {
      kernel = openFastPath(plan);
    } catch (err) {
      why = (err as Error).message;
    }
  }
  if (kernel !== undefined) {
    log.info({ interfaces: kernel.interfaces }, 'offload on: UDP ChannelData of bound channels is relayed by the kernel (eBPF)');
    return kernel;
  }
  if (plan.mode === 'on') throw new AnyturnError('ATN_ERR_OFFLOAD_UNAVAILABLE', why ?? 'unknown reason');
  log.info({ reason: why }, 'offload unavailable: UDP ChannelData is relayed in userspace');
  return undefined;
}

function unavailableReason(plan: OffloadPlan): string | undefined {
  if (plan.maxBps > 0) return 'max-bps caps bandwidth in userspace';
  if (process.platform !== 'linux') return 'the kernel fast path needs Linux';
  if (addresses(plan).length === 0) return 'no specific listen or relay address';
  return undefined;
}

function addresses(plan: OffloadPlan): string[] {
  return [...plan.listen, ...plan.relayIp].filter((a) => a !== '0.0.0.0' && a !== '::');
}

function openFastPath(plan: OffloadPlan): KernelFastPath {
  const addon = loadBpfAddon();
  if (typeof addon === 'string') throw new Error(addon);
  const interfaces = new Set<string>();
  for (const address of addresses(plan)) {
    const ifname = interfaceOf(address);
    if (ifname === undefined) throw new Error(`no interface holds ${address}`);
    interfaces.add(ifname);
  }
  return new KernelFastPath(addon, [...interfaces].sort());
}
