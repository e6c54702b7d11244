/**
 * The overlay node: this relay's end of the relay-to-relay network between PoPs (US 9,426,055: media joins the
 * private network at the PoP nearest each user and crosses it between PoPs).
 *
 *   send     DataPath.toPeer → forward(): is the peer address a relayed address of another anyturn relay (the
 *            cluster store's index, cached: route-cache.ts)? Then the datagram goes to that relay over an overlay
 *            path that is up (or over every path that is up, for users the duplication policy names), wrapped in
 *            the overlay wire format (src/overlay/wire.ts) and signed with the newest cluster overlay key.
 *            No path up, no key, or no relay: forward() returns false and the datagram goes the public way.
 *   receive  one socket per path: the source must be a registered relay's overlay address of that path, the MAC
 *            must verify, the packet id must be new in its flow's dedup window, and the source relayed address
 *            must not be another relay's (heartbeat ranges); then the payload is handed to
 *            DataPath.fromPeer as if it came from the sender's relayed address, under this relay's permissions.
 *            Everything else is dropped and counted (relay/overlay/metrics.ts).
 *   paths    a path to a peer is up while authentic packets come from it on that path (data or probes). A path
 *            nothing was sent on for `probeIntervalMs` gets a probe; every packet echoes the last timestamp heard
 *            on its path, which gives RTT (path-stats.ts) without extra traffic while data flows.
 *
 * Per packet: no await, no JSON, no throw; the headers are small buffers written in place, the payload is never
 * copied (sent as a buffer list with the header and the MAC).
 */
import type dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { Clock } from '../../src/clock.js';
import type { ClusterStore } from '../../src/cluster/store.js';
import type { OverlayPathReport, RelayedAddress, RelayOverlay } from '../../src/cluster/types.js';
import type { HostPort } from '../../src/config/fields.js';
import type { Logger } from '../../src/log.js';
import { DedupWindow } from '../../src/overlay/dedup-window.js';
import { OverlayKeyring } from '../../src/overlay/keyring.js';
import type { PathFlowState } from '../../src/overlay/path-stats.js';
import {
  FLAG_DUPLICATED,
  FLAG_ECHO,
  OverlayType,
  dataTemplate,
  decodeOverlay,
  probeTemplate,
  stampHeader,
} from '../../src/overlay/wire.js';
import type { Allocation } from '../turn/allocation.js';
import type { OverlayRoute } from '../turn/overlay-route.js';
import type { RelayedSocket } from '../turn/relayed-socket.js';
import type { TurnServer } from '../turn/turn-server.js';
import { DuplicationPolicy } from './duplication-policy.js';
import { MAX_PATHS, OverlayMetrics } from './metrics.js';
import { bindOverlaySocket } from './overlay-socket.js';
import { OverlayPeers, type OverlayPeer, type PeerPath } from './peers.js';
import { RouteCache } from './route-cache.js';

export interface OverlayNodeOptions {
  /** This relay's id (its own relayed addresses are not overlay destinations). */
  id: string;
  /** One address per path (`overlay`). */
  addresses: readonly HostPort[];
  /** `overlay-duplicate`. */
  duplicate: readonly string[];
  /** Where this relay's relayed addresses live (advertised relay IPs, port range), told to the other relays. */
  relayed: { addresses: readonly string[]; minPort: number; maxPort: number };
  socketBuffer?: number;
  probeIntervalMs?: number;
  /** A path is down when nothing authentic came on it for this long. */
  downAfterMs?: number;
  /** Receive state of a flow is forgotten after this long without packets. */
  flowIdleMs?: number;
  windowSize?: number;
}

export interface OverlayNodeDeps {
  store: ClusterStore;
  registry: Registry;
  clock: Clock;
  log: Logger;
}

/** Send side of one flow: (our relayed socket, peer relayed address) → a peer relay. */
interface Flow {
  readonly id: number;
  readonly template: Buffer;
  readonly peer: OverlayPeer;
  readonly duplicate: boolean;
  nextId: number;
}

/** Receive side of one flow. */
interface ReceiveFlow {
  readonly window: DedupWindow;
  readonly paths: PathFlowState[];
  lastAt: number;
}

const U32 = 0x1_0000_0000;
const nowUs = (): number => Math.floor(performance.now() * 1000) % U32;
const EMPTY = Buffer.alloc(0);
/** Path reports per heartbeat and in /status (peer relays × paths), as the store's decoder bounds them. */
const MAX_REPORTED_PATHS = 1024;

export class OverlayNode implements OverlayRoute {
  readonly metrics: OverlayMetrics;
  readonly #opts: Required<OverlayNodeOptions>;
  readonly #deps: OverlayNodeDeps;
  readonly #log: Logger;
  readonly #keyring = new OverlayKeyring();
  readonly #peers: OverlayPeers;
  readonly #routes: RouteCache;
  readonly #policy: DuplicationPolicy;
  readonly #sockets: dgram.Socket[] = [];
  /** Our relayed sockets by port (the destination of received packets). */
  readonly #local = new Map<number, RelayedSocket[]>();
  readonly #flows = new Map<RelayedSocket, Map<string, Flow>>();
  readonly #received = new Map<string, ReceiveFlow>();
  #turn: TurnServer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastSweep = 0;
  #closed = false;

  readonly #onKeys = (keys: string[]): void => {
    this.#keyring.setKeys(keys);
    this.#log.info({ keys: keys.length }, 'overlay keys updated');
  };
  readonly #onAllocation = (a: Allocation): void => {
    for (const r of a.relayedSockets) {
      const list = this.#local.get(r.port);
      if (list === undefined) this.#local.set(r.port, [r]);
      else list.push(r);
    }
  };
  readonly #onAllocationClosed = (a: Allocation): void => {
    for (const r of a.relayedSockets) this.#forgetRelay(r);
  };

  constructor(options: OverlayNodeOptions, deps: OverlayNodeDeps) {
    this.#opts = {
      socketBuffer: 4 * 1024 * 1024,
      probeIntervalMs: 1000,
      downAfterMs: 3000,
      flowIdleMs: 120_000,
      windowSize: 1024,
      ...options,
      addresses: options.addresses.slice(0, MAX_PATHS),
    };
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'overlay' });
    this.#peers = new OverlayPeers(options.id, this.#opts.addresses.length);
    this.#routes = new RouteCache(deps.store, (address, port) => this.#peers.relayedBy(address, port));
    this.#policy = new DuplicationPolicy(options.duplicate);
    this.metrics = new OverlayMetrics(
      deps.registry,
      {
        up: (i) => this.#peers.pathsUp(i, this.#deps.clock.now(), this.#opts.downAfterMs),
        rttSeconds: (i) => this.#peers.meanRttSeconds(i),
      },
      () => this.#keyring.size,
    );
  }

  /** Binds one socket per path and starts following keys and the registry. Throws the bind error. */
  async start(): Promise<void> {
    for (let i = 0; i < this.#opts.addresses.length; i++) this.#sockets.push(await this.#bind(i));
    const { store } = this.#deps;
    store.on('overlayKeys', this.#onKeys);
    this.#keyring.setKeys(store.overlayKeys());
    if (this.#keyring.size === 0) {
      this.#log.warn('no overlay key in the cluster store yet: relayed packets go the public way (`anyturn secret add --overlay`)');
    }
    this.#peers.update(store.relays());
    this.#lastSweep = this.#deps.clock.now();
    this.#timer = setInterval(() => this.#tick(), Math.max(50, Math.floor(this.#opts.probeIntervalMs / 4)));
    this.#timer.unref();
  }

  /** Follows the TURN server's allocations (destinations) and delivers to its data path. */
  attach(turn: TurnServer): void {
    this.#turn = turn;
    turn.on('allocation', this.#onAllocation);
    turn.on('allocationclosed', this.#onAllocationClosed);
    for (const a of turn.allocations()) this.#onAllocation(a);
  }

  /** Our overlay addresses (as bound) and the per-path measurements, for the heartbeat and `anyturn status`. */
  report(): RelayOverlay {
    const addresses: RelayedAddress[] = this.#opts.addresses.map((a) => ({
      family: a.address.includes(':') ? 6 : 4, address: a.address, port: this.#sockets.length > 0 ? this.#boundPort(a) : a.port,
    }));
    const now = this.#deps.clock.now();
    const paths: OverlayPathReport[] = [];
    for (const peer of this.#peers.all()) {
      for (const p of peer.paths) {
        const s = p.stats;
        paths.push({
          peer: peer.id, path: p.index, up: p.isUp(now, this.#opts.downAfterMs),
          ...(s.srttUs !== undefined ? { rttMs: Math.round(s.srttUs) / 1000 } : {}),
          loss: Math.round(s.lossRatio * 10000) / 10000, duplicates: s.duplicates,
        });
      }
    }
    const r = this.#opts.relayed;
    // Bounded as the cluster store's decoders expect (src/cluster/redis-codec.ts): a longer record would be refused.
    return {
      addresses,
      paths: paths.slice(0, MAX_REPORTED_PATHS),
      relayed: { addresses: r.addresses.slice(0, 64), minPort: r.minPort, maxPort: r.maxPort },
    };
  }

  // --- send ----------------------------------------------------------------------------------

  carries(family: 4 | 6, peerAddress: string, peerPort: number): boolean {
    if (this.#keyring.size === 0) return false;
    const owner = this.#routes.owner(family, peerAddress, peerPort, this.#deps.clock.now());
    return owner !== undefined && owner !== this.#opts.id;
  }

  forward(relay: RelayedSocket, peerAddress: string, peerPort: number, data: Buffer): boolean {
    if (this.#keyring.size === 0) return false;
    const now = this.#deps.clock.now();
    const owner = this.#routes.owner(relay.family, peerAddress, peerPort, now);
    if (owner === undefined || owner === this.#opts.id) return false;
    const flow = this.#flow(relay, peerAddress, peerPort, owner);
    if (flow === undefined) return false;
    const paths = flow.peer.paths;
    const down = this.#opts.downAfterMs;
    let sent = 0;
    const id = flow.nextId;
    for (let i = 0; i < paths.length; i++) {
      const path = paths[i];
      if (!path.isUp(now, down)) continue;
      if (this.#send(path, flow.template, flow.id, id, flow.duplicate ? FLAG_DUPLICATED : 0, data, now)) sent += 1;
      if (!flow.duplicate && sent > 0) break;
    }
    if (sent === 0) {
      this.metrics.publicFallback += 1;
      return false;
    }
    flow.nextId = id + 1;
    return true;
  }

  #flow(relay: RelayedSocket, peerAddress: string, peerPort: number, owner: string): Flow | undefined {
    let flows = this.#flows.get(relay);
    const key = `${peerAddress}|${peerPort}`;
    const existing = flows?.get(key);
    if (existing !== undefined && this.#peers.get(owner) === existing.peer) return existing;
    const peer = this.#peers.get(owner);
    if (peer === undefined || relay.closed) return undefined;
    const id = (randomBytes(4).readUInt32BE(0) || 1) >>> 0;
    const template = dataTemplate(
      id,
      { family: relay.family, address: relay.advertisedAddress, port: relay.port },
      { family: relay.family, address: peerAddress, port: peerPort },
    );
    if (template === undefined) return undefined;
    const flow: Flow = { id, template, peer, duplicate: this.#policy.duplicates(relay.allocation.username), nextId: 0 };
    if (flows === undefined) this.#flows.set(relay, (flows = new Map()));
    flows.set(key, flow);
    return flow;
  }

  /** One signed copy on one path. */
  #send(path: PeerPath, template: Buffer, flowId: number, packetId: number, flags: number, data: Buffer, now: number): boolean {
    const socket = this.#sockets[path.index];
    if (socket === undefined) return false;
    const head = Buffer.allocUnsafe(template.length);
    template.copy(head, 0);
    const us = nowUs();
    stampHeader(head, {
      keyId: this.#keyring.signingKeyId!,
      flags: path.heardOnce ? flags | FLAG_ECHO : flags,
      packetId,
      sendTimestamp: us,
      echoReference: path.echoReference,
      echoDelta: path.heardOnce ? (us - path.echoHeardAtUs + U32) % U32 : 0,
    });
    head.writeUInt32BE(flowId >>> 0, 4);
    const mac = this.#keyring.sign(data.length > 0 ? [head, data] : [head])!;
    try {
      socket.send(data.length > 0 ? [head, data, mac] : [head, mac], path.remote.port, path.remote.address);
    } catch {
      this.metrics.drop('send-failed');
      return false;
    }
    path.lastSentAt = now;
    this.metrics.sent[path.index] += 1;
    return true;
  }

  // --- receive -------------------------------------------------------------------------------

  #onMessage(index: number, msg: Buffer, rinfo: RemoteInfo): void {
    const m = this.metrics;
    m.received[index] += 1;
    const from = this.#peers.source(rinfo.address, rinfo.port);
    if (from === undefined || from.path.index !== index) {
      m.drop('unknown-source');
      return;
    }
    const p = decodeOverlay(msg);
    if (typeof p === 'string') {
      m.drop('malformed');
      return;
    }
    const verdict = this.#keyring.verify(p.keyId, p.signed, p.mac);
    if (verdict !== 'ok') {
      m.drop(verdict);
      return;
    }
    const now = this.#deps.clock.now();
    const { peer, path } = from;
    const flowKey = `${peer.id}|${p.flowId}`;
    let flow = this.#received.get(flowKey);
    if (flow === undefined) {
      flow = { window: new DedupWindow(this.#opts.windowSize), paths: [], lastAt: now };
      this.#received.set(flowKey, flow);
    }
    const isData = p.type === OverlayType.Data;
    if (isData) {
      const before = path.stats.expected;
      path.stats.arrived((flow.paths[index] ??= { highest: -1 }), p.packetId);
      m.expected[index] += path.stats.expected - before;
      m.arrived[index] += 1;
    }
    const seen = flow.window.check(p.packetId);
    if (seen === 'too-old') {
      m.drop('too-old');
      return;
    }
    flow.lastAt = now;
    // Authentic and inside the window (a duplicate too: the copy did cross this path): the path is alive, and
    // its echo gives the RTT.
    const us = nowUs();
    path.lastHeardAt = now;
    if ((p.flags & FLAG_ECHO) !== 0) path.stats.echo(us, p.echoReference, p.echoDelta);
    path.echoReference = p.sendTimestamp;
    path.echoHeardAtUs = us;
    path.heardOnce = true;
    if (seen === 'duplicate') {
      if (isData) path.stats.duplicates += 1;
      m.duplicates[index] += 1;
      return;
    }
    if (isData) {
      // A relay speaks only for its own relayed addresses (as far as the registry says whose they are).
      const owner = this.#peers.relayedBy(p.source!.address, p.source!.port);
      if (owner !== undefined && owner !== peer.id) {
        m.drop('unknown-source');
        return;
      }
      this.#deliver(p.destination!, p.source!, p.payload);
    }
  }

  #deliver(to: RelayedAddress, from: RelayedAddress, payload: Buffer): void {
    const list = this.#local.get(to.port);
    let relay: RelayedSocket | undefined;
    if (list !== undefined) {
      for (const r of list) if (r.advertisedAddress === to.address && r.family === to.family && !r.closed) relay = r;
    }
    const turn = this.#turn;
    if (relay === undefined || turn === undefined) {
      this.metrics.drop('no-allocation');
      return;
    }
    this.metrics.delivered += 1;
    turn.dataPath.fromPeer(relay, payload, from.address, from.port);
  }

  // --- timers --------------------------------------------------------------------------------

  #tick(): void {
    if (this.#closed) return;
    const now = this.#deps.clock.now();
    this.#peers.update(this.#deps.store.relays());
    if (this.#keyring.size > 0) {
      for (const peer of this.#peers.all()) {
        for (const path of peer.paths) {
          if (now - path.lastSentAt >= this.#opts.probeIntervalMs) this.#probe(peer, path, now);
        }
      }
    }
    if (now - this.#lastSweep >= 10_000) {
      this.#lastSweep = now;
      for (const [key, flow] of this.#received) if (now - flow.lastAt > this.#opts.flowIdleMs) this.#received.delete(key);
    }
  }

  #probe(peer: OverlayPeer, path: PeerPath, now: number): void {
    const id = peer.nextProbeId++;
    this.#send(path, PROBE, 0, id, 0, EMPTY, now);
  }

  // --- sockets -------------------------------------------------------------------------------

  #bind(index: number): Promise<dgram.Socket> {
    const { address, port } = this.#opts.addresses[index];
    return bindOverlaySocket(address, port, this.#opts.socketBuffer, {
      message: (msg, rinfo) => this.#onMessage(index, msg, rinfo),
      error: () => this.metrics.drop('send-failed'),
    });
  }

  #boundPort(a: HostPort): number {
    const i = this.#opts.addresses.indexOf(a);
    try {
      return this.#sockets[i]?.address().port ?? a.port;
    } catch {
      return a.port;
    }
  }

  #forgetRelay(r: RelayedSocket): void {
    this.#flows.delete(r);
    const list = this.#local.get(r.port);
    if (list === undefined) return;
    const rest = list.filter((x) => x !== r);
    if (rest.length === 0) this.#local.delete(r.port);
    else this.#local.set(r.port, rest);
  }

  /** Idempotent: stops the timer, closes the sockets, stops following keys and allocations. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#deps.store.off('overlayKeys', this.#onKeys);
    this.#turn?.off('allocation', this.#onAllocation);
    this.#turn?.off('allocationclosed', this.#onAllocationClosed);
    for (const s of this.#sockets) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
  }
}

const PROBE = probeTemplate();
