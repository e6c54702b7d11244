/**
 * Control-plane ownership of the kernel fast path: one kernel entry per offloadable channel binding, existing
 * exactly while the binding, the permission of its peer and the allocation are alive (TurnServer tells us through
 * FlowObserver; every entry also carries the earliest of the three expiry times, so the kernel stops on time by
 * itself). Per-entry counters are read on a timer into the relay's traffic counters (turn_traffic_*, hence the
 * load score and bandwidth figures) and the turn_offload_* metrics.
 *
 * Offloadable: a UDP client on a unicast listener bound to a specific address, a relayed address and peer of the
 * same family (IPv4 or IPv6), a peer not translated by external-ip, a route to both ends. Everything else (TCP/TLS,
 * a family change between client and peer, Send/Data indications, permissions without a channel) stays on the
 * userspace path, which also handles every packet while an entry is not (yet, or any more) installed: nothing is
 * lost in between.
 */
import type { OverlayRoute } from '../turn/overlay-route.js';
import type { Logger } from '../../src/log.js';
import type { RelayMetrics } from '../metrics.js';
import type { AddressMap } from '../turn/address-map.js';
import type { Allocation } from '../turn/allocation.js';
import type { ChannelBinding } from '../turn/channel-binding.js';
import type { FlowObserver } from '../turn/flow-observer.js';
import { EgressRoutes } from './egress.js';
import { MAX_FLOWS, type FlowSpec } from './flow-entry.js';
import type { FlowCounters, KernelFastPath } from './kernel-fast-path.js';
import type { OffloadMetrics } from './offload-metrics.js';

const COUNTER_INTERVAL_MS = 1000;
const CHANNEL_DATA_HEADER = 4;

interface Flow {
  spec: FlowSpec;
  slot: number;
  expiresAt: number;
  /** Counters already credited to the metrics. */
  seen: FlowCounters;
}

export class ChannelOffload implements FlowObserver {
  readonly #kernel: KernelFastPath;
  readonly #metrics: RelayMetrics;
  readonly #offload: OffloadMetrics;
  readonly #addresses: AddressMap;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #routes = new EgressRoutes();
  /** Offloaded flows per allocation, by channel number. */
  readonly #flows = new Map<Allocation, Map<number, Flow>>();
  readonly #freeSlots: number[] = [];
  #nextSlot = 0;
  readonly #scratch: FlowCounters = { c2pPackets: 0, c2pBytes: 0, p2cPackets: 0, p2cBytes: 0 };
  readonly #timer: NodeJS.Timeout;
  #count = 0;
  readonly #overlay: Pick<OverlayRoute, 'carries'> | undefined;

  constructor(deps: {
    kernel: KernelFastPath;
    metrics: RelayMetrics;
    offloadMetrics: OffloadMetrics;
    addresses: AddressMap;
    log: Logger;
    /** The TURN clock (ms, Date.now() semantics) that lifetimes are stamped with. */
    now: () => number;
    /** Channels whose peer is another relay's relayed address go over the overlay, in userspace. */
    overlay?: Pick<OverlayRoute, 'carries'>;
  }) {
    this.#overlay = deps.overlay;
    this.#kernel = deps.kernel;
    this.#metrics = deps.metrics;
    this.#offload = deps.offloadMetrics;
    this.#addresses = deps.addresses;
    this.#log = deps.log;
    this.#now = deps.now;
    this.#timer = setInterval(() => this.collect(), COUNTER_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Channel bindings the kernel carries now. */
  get flows(): number {
    return this.#count;
  }

  changed(allocation: Allocation): void {
    this.#reconcile(allocation, this.#now());
  }

  closed(allocation: Allocation): void {
    const flows = this.#flows.get(allocation);
    if (flows === undefined) return;
    for (const flow of flows.values()) this.#remove(flow);
    this.#flows.delete(allocation);
  }

  swept(nowMs: number): void {
    this.#routes.refresh();
    for (const allocation of [...this.#flows.keys()]) this.#reconcile(allocation, nowMs);
  }

  /** Credits what the kernel relayed since the last call to the metrics (timer; also before removal). */
  collect(): void {
    for (const flows of this.#flows.values()) for (const flow of flows.values()) this.#credit(flow);
  }

  /** Removes every entry (credited first) and stops the timer; the kernel program is the caller's to close. */
  close(): void {
    clearInterval(this.#timer);
    for (const allocation of [...this.#flows.keys()]) this.closed(allocation);
  }

  #reconcile(allocation: Allocation, now: number): void {
    let flows = this.#flows.get(allocation);
    const wanted = allocation.closed ? undefined : allocation.channels;
    if (flows !== undefined) {
      for (const [number, flow] of flows) {
        const channel = wanted?.get(number);
        if (channel === undefined || this.#expiryOf(allocation, channel, now) === undefined) {
          this.#remove(flow);
          flows.delete(number);
        }
      }
    }
    if (wanted !== undefined && this.#offloadable(allocation)) {
      for (const channel of wanted.values()) {
        const expiresAt = this.#expiryOf(allocation, channel, now);
        if (expiresAt === undefined) continue;
        const flow = flows?.get(channel.number);
        if (flow !== undefined && flow.expiresAt === expiresAt) continue;
        flows ??= new Map();
        this.#flows.set(allocation, flows);
        if (flow !== undefined) this.#refresh(flow, expiresAt, now);
        else this.#install(allocation, channel, expiresAt, now, flows);
      }
    }
    if (flows !== undefined && flows.size === 0) this.#flows.delete(allocation);
  }

  /** When the entry of a binding must stop: the earliest expiry of binding, permission, allocation (or none). */
  #expiryOf(allocation: Allocation, channel: ChannelBinding, now: number): number | undefined {
    const family = familyOfIp(allocation.clientAddress);
    if (channel.relay.closed || channel.relay.family !== family || channel.peer.family !== family) return undefined;
    const permission = allocation.validPermission(channel.peer.address, now);
    if (permission === undefined || !channel.isValid(now) || allocation.isExpired(now)) return undefined;
    if (this.#overlay?.carries(channel.peer.family, channel.peer.address, channel.peer.port) === true) return undefined;
    return Math.min(channel.expiresAt, permission.expiresAt, allocation.expiresAt);
  }

  #offloadable(allocation: Allocation): boolean {
    const t = allocation.transport;
    return t.protocol === 'udp' && t.role === 'unicast' && t.localAddress !== '0.0.0.0' && t.localAddress !== '::' &&
      familyOfIp(t.localAddress) === familyOfIp(allocation.clientAddress);
  }

  #install(allocation: Allocation, channel: ChannelBinding, expiresAt: number, now: number, flows: Map<number, Flow>): void {
    const peer = channel.peer.address;
    // 1:1 NAT: a peer that is one of our public addresses is reached on its private one in userspace.
    if (this.#addresses.toPublic(peer) !== undefined || this.#addresses.toPrivate(peer) !== peer) return;
    const peerIfindex = this.#routes.egressOf(peer);
    const clientIfindex = this.#routes.egressOf(allocation.clientAddress);
    if (peerIfindex === undefined || clientIfindex === undefined) return;
    // A datagram sent from this host or a local container may still carry a checksum to be completed by the
    // device (CHECKSUM_PARTIAL), at an offset the rewrite moves: a physical NIC would write it over the new UDP
    // header. Such a sender on one side and a physical NIC on the other stay in userspace.
    if (this.#routes.isPhysical(peerIfindex) !== this.#routes.isPhysical(clientIfindex)) return;
    const slot = this.#takeSlot();
    if (slot === undefined) {
      this.#offload.installFailures += 1;
      return;
    }
    const t = allocation.transport;
    const spec: FlowSpec = {
      family: channel.relay.family,
      clientIp: allocation.clientAddress, clientPort: allocation.clientPort,
      listenIp: t.localAddress, listenPort: t.localPort,
      channel: channel.number,
      relayIp: channel.relay.address, relayPort: channel.relay.port,
      peerIp: peer, peerPort: channel.peer.port,
      peerIfindex, clientIfindex,
    };
    const err = this.#kernel.install(spec, slot, this.#deadlineNs(expiresAt, now));
    if (err !== 0) {
      this.#freeSlots.push(slot);
      this.#offload.installFailures += 1;
      this.#log.debug({ errno: err, channel: channel.number }, 'kernel flow entry refused: channel stays in userspace');
      return;
    }
    const seen = this.#kernel.counters(slot, { c2pPackets: 0, c2pBytes: 0, p2cPackets: 0, p2cBytes: 0 });
    flows.set(channel.number, { spec, slot, expiresAt, seen });
    this.#offload.flows = ++this.#count;
  }

  #refresh(flow: Flow, expiresAt: number, now: number): void {
    // Replacing the entry keeps its counters (they live in the flow's slot, not in the entry).
    if (this.#kernel.install(flow.spec, flow.slot, this.#deadlineNs(expiresAt, now)) === 0) flow.expiresAt = expiresAt;
  }

  #remove(flow: Flow): void {
    this.#kernel.remove(flow.spec);
    this.#credit(flow);
    this.#freeSlots.push(flow.slot);
    this.#offload.flows = --this.#count;
  }

  /** A TURN-clock time (ms) as the kernel's CLOCK_MONOTONIC deadline (ns). */
  #deadlineNs(expiresAt: number, now: number): bigint {
    return this.#kernel.monotonicNs() + BigInt(Math.max(0, Math.round(expiresAt - now))) * 1_000_000n;
  }

  #takeSlot(): number | undefined {
    if (this.#freeSlots.length > 0) return this.#freeSlots.pop();
    return this.#nextSlot < MAX_FLOWS ? this.#nextSlot++ : undefined;
  }

  #credit(flow: Flow): void {
    const now = this.#kernel.counters(flow.slot, this.#scratch);
    const seen = flow.seen;
    const c2pPackets = now.c2pPackets - seen.c2pPackets;
    const c2pBytes = now.c2pBytes - seen.c2pBytes;
    const p2cPackets = now.p2cPackets - seen.p2cPackets;
    const p2cBytes = now.p2cBytes - seen.p2cBytes;
    if (c2pPackets === 0 && p2cPackets === 0) return;
    const m = this.#metrics;
    m.clientReceivedPackets += c2pPackets;
    m.clientReceivedBytes += c2pBytes + CHANNEL_DATA_HEADER * c2pPackets;
    m.peerSentPackets += c2pPackets;
    m.peerSentBytes += c2pBytes;
    m.peerReceivedPackets += p2cPackets;
    m.peerReceivedBytes += p2cBytes;
    m.clientSentPackets += p2cPackets;
    m.clientSentBytes += p2cBytes + CHANNEL_DATA_HEADER * p2cPackets;
    const o = this.#offload;
    o.clientToPeerPackets += c2pPackets;
    o.clientToPeerBytes += c2pBytes;
    o.peerToClientPackets += p2cPackets;
    o.peerToClientBytes += p2cBytes;
    seen.c2pPackets = now.c2pPackets;
    seen.c2pBytes = now.c2pBytes;
    seen.p2cPackets = now.p2cPackets;
    seen.p2cBytes = now.p2cBytes;
  }
}

function familyOfIp(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}
