/**
 * TurnServer: the TURN/STUN core that listeners feed (relay/listen/*). It wires the parts (allocation table,
 * ports, quotas, peer policy, retransmit cache, dispatcher, data path) and owns the one periodic timer: it
 * refreshes the data path's coarse clock every 250 ms and sweeps (expires allocations, permissions, channels,
 * port reservations, retransmit cache entries) every sweepIntervalMs. No timer per object.
 *
 * Listeners call `handlePacket` once per datagram / framed message and `connectionClosed` when a stream ends.
 * Neither ever throws.
 */
import type { Clock } from '../../src/clock.js';
import type { CredentialStore } from '../../src/auth/credential-store.js';
import type { NonceService } from '../../src/auth/nonce.js';
import { AnyturnError } from '../../src/errors.js';
import { TypedEmitter } from '../../src/events.js';
import type { Logger } from '../../src/log.js';
import { decodeStun, isChannelData, looksLikeStun } from '../../src/stun/index.js';
import type { CloseReason, RelayMetrics } from '../metrics.js';
import { AddressMap } from './address-map.js';
import type { Allocation } from './allocation.js';
import { AllocationTable } from './allocation-table.js';
import type { ClientTransport } from './client-transport.js';
import type { OpenedRelay, TurnCore } from './context.js';
import { DataPath } from './data-path.js';
import type { OverlayRoute } from './overlay-route.js';
import { Dispatcher, type AnycastHandover } from './dispatch.js';
import { EgressTable } from './egress.js';
import { familyOf, formatFiveTuple } from './five-tuple.js';
import type { FlowObserver } from './flow-observer.js';
import { PeerPolicy } from './peer-policy.js';
import { PortAllocator, type PortRequest } from './port-allocator.js';
import { Quota } from './quota.js';
import { RelayedSocket } from './relayed-socket.js';
import { selectUdpIo } from '../datagram/udp-io.js';
import type { UdpIo } from '../datagram/udp-socket.js';
import { RetransmitCache } from './retransmit-cache.js';
import { DEFAULT_TURN_OPTIONS, type TurnOptions } from './turn-options.js';

export interface TurnServerDeps {
  credentials: CredentialStore;
  nonces: NonceService;
  clock: Clock;
  log: Logger;
  metrics: RelayMetrics;
  /** Requests on 'anycast' transports go here when set; otherwise anycast transports act like unicast ones. */
  anycast?: AnycastHandover;
  /** UDP socket I/O of the relayed ports and the UDP listeners (default: the native engine where built, else dgram). */
  udpIo?: UdpIo;
  /** Relay-to-relay forwarding over the overlay (relay/overlay/); absent = every peer the public way. */
  overlay?: OverlayRoute;
  /** Follows channel bindings and lifetimes (the kernel fast path, relay/offload); none by default. */
  flows?: FlowObserver;
}

export type TurnServerEvents = {
  /** A new allocation is in the table. */
  allocation: [allocation: Allocation];
  /** An allocation left the table (after its sockets were closed). */
  allocationclosed: [allocation: Allocation, reason: CloseReason];
};

/** The data path's coarse clock is refreshed this often (ms); the sweep runs every sweepIntervalMs. */
const TICK_MS = 250;

/** How many ports are tried when binding fails (a port taken by another process). */
const BIND_ATTEMPTS = 8;

export class TurnServer extends TypedEmitter<TurnServerEvents> {
  readonly options: TurnOptions;
  readonly dataPath: DataPath;
  /** external-ip: what is advertised for the relay addresses, and the peer-side translation. */
  readonly addresses: AddressMap;
  readonly #table = new AllocationTable();
  readonly #ports: PortAllocator;
  readonly #quota: Quota;
  readonly #cache: RetransmitCache;
  readonly #dispatcher: Dispatcher;
  readonly #core: TurnCore;
  readonly #deps: TurnServerDeps;
  readonly #log: Logger;
  /** The I/O of every UDP socket this server's allocations and UDP listeners use. */
  readonly udpIo: UdpIo;
  readonly #relayAddresses: { 4: readonly string[]; 6: readonly string[] };
  readonly #nextRelayAddress = { 4: 0, 6: 0 };
  /** Per-tenant egress (configured entries, and the cluster-wide table set by relay/cluster-sync.ts). */
  readonly egress: EgressTable;
  readonly #timer: NodeJS.Timeout;
  #lastSweep: number;
  #closed = false;

  constructor(options: TurnOptions, deps: TurnServerDeps) {
    super();
    this.options = { ...DEFAULT_TURN_OPTIONS, ...options };
    this.#deps = deps;
    this.#log = deps.log.child({ component: 'turn' });
    this.logListenerErrorsTo(this.#log);
    this.udpIo = deps.udpIo ?? selectUdpIo('auto');
    this.addresses = new AddressMap(this.options.externalAddresses ?? []);
    this.egress = new EgressTable(this.options.egress ?? [], this.options.uplinks ?? []);
    this.#relayAddresses = {
      4: this.options.relayAddresses.filter((a) => familyOf(a) === 4),
      6: this.options.relayAddresses.filter((a) => familyOf(a) === 6),
    };
    this.#ports = new PortAllocator({
      minPort: this.options.minPort,
      maxPort: this.options.maxPort,
      reservationLifetimeMs: (this.options.reservationLifetimeSeconds ?? 30) * 1000,
      onReservationExpired: (holder) => this.#quota.release(holder),
    });
    this.#quota = new Quota({
      capacity: this.options.capacity, userQuota: this.options.userQuota, userChannelQuota: this.options.userChannelQuota,
    });
    this.#cache = new RetransmitCache({
      maxEntries: this.options.retransmitCacheSize ?? 20000,
      ttlMs: this.options.retransmitCacheMs ?? 40000,
    });
    this.dataPath = new DataPath({
      table: this.#table,
      clock: deps.clock,
      metrics: deps.metrics,
      log: this.#log,
      maxBytesPerSecond: this.options.maxBytesPerSecond,
      addresses: this.addresses,
      overlay: deps.overlay,
    });
    const peers = new PeerPolicy(this.options);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const server = this;
    this.#core = {
      options: this.options,
      clock: deps.clock,
      log: this.#log,
      metrics: deps.metrics,
      credentials: deps.credentials,
      nonces: deps.nonces,
      table: this.#table,
      ports: this.#ports,
      peers,
      quota: this.#quota,
      dataPath: this.dataPath,
      pendingAllocations: new Set<string>(),
      hasRelayFamily: (family) => this.#relayAddresses[family].length > 0,
      openRelayedSocket: (allocation, family, request) => this.#openRelayedSocket(allocation, family, request),
      openReservedRelayedSocket: (allocation, address, port) => this.#openReservedRelayedSocket(allocation, address, port),
      registerAllocation: (allocation) => this.#register(allocation),
      flowsChanged: (allocation) => deps.flows?.changed(allocation),
      closeAllocation: (allocation, reason) => this.#closeAllocation(allocation, reason),
      get closed() {
        return server.#closed;
      },
    };
    this.#dispatcher = new Dispatcher(this.#core, this.#cache, deps.anycast);
    this.#lastSweep = deps.clock.now();
    this.#timer = setInterval(() => this.#tick(), Math.min(TICK_MS, this.options.sweepIntervalMs ?? 1000));
    this.#timer.unref();
  }

  /** One datagram (UDP) or one framed message (TCP/TLS) from a client. Never throws. */
  handlePacket(transport: ClientTransport, packet: Buffer, clientAddress: string, clientPort: number): void {
    if (this.#closed) return;
    const m = this.#deps.metrics;
    try {
      if (isChannelData(packet)) {
        if (transport.role === 'anycast' && this.#deps.anycast !== undefined) {
          m.clientReceivedPackets += 1;
          m.clientReceivedBytes += packet.length;
          this.#deps.anycast.dropChannelData(packet.length);
        } else {
          this.dataPath.fromClient(transport, packet, clientAddress, clientPort);
        }
        return;
      }
      m.clientReceivedPackets += 1;
      m.clientReceivedBytes += packet.length;
      if (!looksLikeStun(packet)) {
        m.drop('malformed');
        return;
      }
      const msg = decodeStun(packet);
      if (typeof msg === 'string') {
        m.drop('malformed');
        return;
      }
      this.dataPath.tick(this.#deps.clock.now());
      this.#dispatcher.dispatch(transport, msg, clientAddress, clientPort);
    } catch (err) {
      m.drop('internal-error');
      this.#log.error({ err }, 'packet handling failed');
    }
  }

  /** A stream (TCP/TLS) client went away: its allocation ends with it (RFC 8656 §7.3... §3.1). */
  connectionClosed(transport: ClientTransport, clientAddress: string, clientPort: number): void {
    const allocation = this.#table.find(transport, clientAddress, clientPort);
    if (allocation !== undefined) this.#closeAllocation(allocation, 'connection-closed');
  }

  get allocationCount(): number {
    return this.#table.size;
  }

  /** Live allocations (for status pages and tests). */
  allocations(): IterableIterator<Allocation> {
    return this.#table.values();
  }

  /** Allocation of a 5-tuple seen through a transport. */
  findAllocation(transport: ClientTransport, clientAddress: string, clientPort: number): Allocation | undefined {
    return this.#table.find(transport, clientAddress, clientPort);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Expires what is due (run by the periodic timer; callable directly). */
  sweep(): void {
    const now = this.#deps.clock.now();
    this.#lastSweep = now;
    this.dataPath.tick(now);
    for (const allocation of this.#table.values()) {
      if (allocation.isExpired(now)) this.#closeAllocation(allocation, 'expired');
      else allocation.sweep(now);
    }
    this.#ports.sweep(now);
    this.#cache.prune(now);
    this.#deps.flows?.swept(now);
  }

  /** Idempotent: stops the sweep and closes every allocation (and so every relayed socket). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const allocation of [...this.#table.values()]) this.#closeAllocation(allocation, 'shutdown');
    this.#cache.clear();
  }

  #tick(): void {
    const now = this.#deps.clock.now();
    this.dataPath.tick(now);
    if (now - this.#lastSweep >= (this.options.sweepIntervalMs ?? 1000)) this.sweep();
  }

  #register(allocation: Allocation): void {
    this.#table.add(allocation);
    this.#deps.metrics.allocationCreated(this.#table.size);
    this.#log.debug(
      { alloc: formatFiveTuple(allocation.fiveTuple), user: allocation.username, relayed: allocation.relayedAddresses },
      'allocation created',
    );
    this.safeEmit('allocation', allocation);
  }

  #closeAllocation(allocation: Allocation, reason: CloseReason): void {
    if (!this.#table.remove(allocation)) return;
    this.#quota.release(allocation.username);
    this.#deps.flows?.closed(allocation); // kernel entries go before the sockets do
    allocation.close();
    this.#deps.metrics.allocationClosed(reason, this.#table.size);
    this.#log.debug({ alloc: formatFiveTuple(allocation.fiveTuple), reason }, 'allocation closed');
    this.safeEmit('allocationclosed', allocation, reason);
  }

  async #openRelayedSocket(allocation: Allocation, family: 4 | 6, request: PortRequest): Promise<OpenedRelay> {
    const addresses = this.#relayAddresses[family];
    if (addresses.length === 0) {
      throw new AnyturnError('ATN_ERR_TURN_ADDRESS_FAMILY_UNSUPPORTED', `no IPv${family} relay address`);
    }
    let lastError: unknown;
    for (let attempt = 0; attempt < BIND_ATTEMPTS && !this.#closed && !allocation.closed; attempt++) {
      const address = this.egress.addressFor(allocation.username, family) ?? addresses[this.#nextRelayAddress[family]++ % addresses.length];
      const port = this.#ports.acquire(address, request);
      if (port === undefined) continue;
      try {
        const relay = await this.#bind(allocation, family, address, port);
        const reservationToken = request === 'even-pair' ? this.#ports.reserve(address, port + 1, this.#deps.clock.now(), allocation.username) : undefined;
        return { relay, reservationToken };
      } catch (err) {
        lastError = err;
        this.#ports.release(address, port);
        if (request === 'even-pair') this.#ports.release(address, port + 1);
      }
    }
    this.#log.warn({ err: lastError, family, request }, 'no relayed port available');
    throw new AnyturnError('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', 'no relayed port available', { cause: lastError });
  }

  async #openReservedRelayedSocket(allocation: Allocation, address: string, port: number): Promise<RelayedSocket> {
    try {
      return await this.#bind(allocation, familyOf(address), address, port);
    } catch (err) {
      this.#ports.release(address, port);
      throw new AnyturnError('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', 'the reserved port cannot be bound', { cause: err });
    }
  }

  async #bind(allocation: Allocation, family: 4 | 6, address: string, port: number): Promise<RelayedSocket> {
    const dataPath = this.dataPath;
    let relay: RelayedSocket | undefined;
    const socket = await this.udpIo.bind(
      { family, address, port },
      {
        message: (msg, peerAddress, peerPort) => {
          if (relay !== undefined) dataPath.fromPeer(relay, msg, peerAddress, peerPort);
        },
        sendError: dataPath.onRelayError,
      },
    );
    relay = new RelayedSocket(family, address, port, socket, allocation, this.#ports, this.addresses.advertised(address));
    if (this.#closed || allocation.closed) {
      relay.close();
      throw new AnyturnError('ATN_ERR_INVALID_STATE', 'closed while binding a relayed socket');
    }
    return relay;
  }
}
