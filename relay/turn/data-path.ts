/**
 * The data path: per-packet relaying between clients and peers (RFC 8656 §10 Send/Data, §12 ChannelData).
 *
 *   client ChannelData → allocation (by 5-tuple) → channel → valid permission → bandwidth → relayed socket → peer
 *   peer datagram      → allocation (the socket's) → valid permission → bandwidth →
 *                        ChannelData to the client if a channel is bound to the peer, else a Data indication
 *
 * Rules here: no Buffer.concat, no JSON, no emit, no await, no throw. Every drop is counted by reason. Payloads
 * are subarrays of the received datagram (each datagram, or each batch of the native engine, has its own buffer:
 * relay/datagram/); headers are written into a small buffer from Node's pool and sent together with the payload
 * as a list (sendParts: one sendmsg, or dgram send([...])), so the payload is never copied. Headers are not
 * shared between packets: Node's dgram queues a send the kernel could not take at once with the buffers as they
 * are (the native engine drops it, counted as send-failed).
 *
 * Time on this path is coarse: `tick(now)` stores the clock's value (the server ticks every 250 ms and before
 * each STUN message), so a packet costs no clock read. Expiry is therefore seen up to one tick late, which is
 * nothing next to lifetimes of minutes; the bandwidth bucket refills per tick.
 *
 * With an overlay (relay/overlay/), a peer that is another anyturn relay's relayed address is reached over the
 * private network instead of the public one (turn/overlay-route.ts: the one call, after the permission and
 * bandwidth checks); what arrives that way enters `fromPeer` like any peer datagram.
 *
 * Behind 1:1 NAT (`external-ip`) a peer address that is one of this relay's advertised public addresses is sent to
 * on the private one, and a datagram from one of our private addresses that no permission admits is judged as
 * coming from its public address (relay/turn/address-map.ts): client-to-client on this relay without a hairpin.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../src/clock.js';
import {
  Attr,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  Method,
  StunClass,
  channelDataLength,
  channelNumberOf,
  encodeAddressAt,
  messageType,
  paddedLength,
  writeChannelDataHeader,
} from '../../src/stun/index.js';
import type { Logger } from '../../src/log.js';
import type { RelayMetrics } from '../metrics.js';
import { NO_ADDRESS_MAP, type AddressMap } from './address-map.js';
import type { Allocation } from './allocation.js';
import type { AllocationTable } from './allocation-table.js';
import type { ClientTransport } from './client-transport.js';
import type { OverlayRoute } from './overlay-route.js';
import { takeTokens } from './quota.js';
import type { RelayedSocket } from './relayed-socket.js';

/** Zero bytes to pad a Data indication's DATA attribute (never written to). */
const PADDING = [Buffer.alloc(0), Buffer.alloc(1), Buffer.alloc(2), Buffer.alloc(3)];
const MAX_STUN_BODY = 0xffff;
const DATA_INDICATION = messageType(Method.Data, StunClass.Indication);

export class DataPath {
  readonly #table: AllocationTable;
  /** Coarse current time (ms), see tick(). */
  #now: number;
  readonly #metrics: RelayMetrics;
  readonly #log: Logger;
  /** Bytes/s per allocation; 0 = unlimited. */
  readonly #rate: number;
  readonly #addresses: AddressMap;
  /** Transaction id of Data indications: random, the last 4 bytes count up. */
  readonly #txid = randomBytes(12);
  /** Relay-to-relay over the private network (relay/overlay/); undefined = every peer the public way. */
  readonly #overlay: OverlayRoute | undefined;

  constructor(deps: {
    table: AllocationTable;
    clock: Clock;
    metrics: RelayMetrics;
    log: Logger;
    maxBytesPerSecond: number;
    /** external-ip mappings (default: none). */
    addresses?: AddressMap;
    overlay?: OverlayRoute;
  }) {
    this.#overlay = deps.overlay;
    this.#table = deps.table;
    this.#addresses = deps.addresses ?? NO_ADDRESS_MAP;
    this.#now = deps.clock.now();
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#rate = deps.maxBytesPerSecond;
  }

  /** Sets the coarse time the data path judges lifetimes and bandwidth by. */
  tick(nowMs: number): void {
    this.#now = nowMs;
  }

  /** A ChannelData message from a client (UDP datagram or one framed message of a stream). */
  fromClient(transport: ClientTransport, packet: Buffer, clientAddress: string, clientPort: number): void {
    const m = this.#metrics;
    m.clientReceivedPackets += 1;
    m.clientReceivedBytes += packet.length;
    m.userspaceChannelData += 1;
    const allocation = this.#table.find(transport, clientAddress, clientPort);
    if (allocation === undefined) {
      m.drop('no-allocation');
      return;
    }
    const length = channelDataLength(packet);
    if (packet.length < 4 + length) {
      m.drop('malformed');
      return;
    }
    const channel = allocation.channels?.get(channelNumberOf(packet));
    if (channel === undefined || channel.expiresAt <= this.#now) {
      m.drop('no-channel');
      return;
    }
    this.toPeer(allocation, channel.relay, channel.peer.address, channel.peer.port, packet.subarray(4, 4 + length));
  }

  /** A send the kernel refused asynchronously (reported by the socket's 'error' event). */
  sendFailed(): void {
    this.#metrics.drop('send-failed');
  }

  /** Relays application data to a peer if a permission allows it (ChannelData and Send indications). */
  toPeer(allocation: Allocation, relay: RelayedSocket, peerAddress: string, peerPort: number, data: Buffer): void {
    const m = this.#metrics;
    const now = this.#now;
    if (allocation.validPermission(peerAddress, now) === undefined) {
      m.drop('no-permission');
      return;
    }
    if (this.#rate > 0 && !takeTokens(allocation, data.length, now, this.#rate)) {
      m.drop('bandwidth');
      return;
    }
    const overlay = this.#overlay;
    if (overlay === undefined || !overlay.forward(relay, peerAddress, peerPort, data)) {
      if (!relay.send(data, peerPort, this.#addresses.toPrivate(peerAddress))) {
        m.drop('send-failed');
        return;
      }
    }
    m.peerSentPackets += 1;
    m.peerSentBytes += data.length;
  }

  /** A datagram from a peer on a relayed socket (the socket's message handler), or from the overlay. */
  fromPeer(relay: RelayedSocket, msg: Buffer, peerAddress: string, peerPort: number): void {
    const m = this.#metrics;
    m.peerReceivedPackets += 1;
    m.peerReceivedBytes += msg.length;
    const allocation = relay.allocation;
    if (allocation.closed) {
      m.drop('no-allocation');
      return;
    }
    const now = this.#now;
    let address = peerAddress;
    if (allocation.validPermission(address, now) === undefined) {
      // One of our private addresses (another allocation on this host) is known to the client by its public one.
      const advertised = this.#addresses.toPublic(address);
      if (advertised === undefined || allocation.validPermission(advertised, now) === undefined) {
        m.drop('no-permission');
        return;
      }
      address = advertised;
    }
    if (this.#rate > 0 && !takeTokens(allocation, msg.length, now, this.#rate)) {
      m.drop('bandwidth');
      return;
    }
    const channel = allocation.channelForPeer(address, peerPort);
    if (channel !== undefined && channel.expiresAt > now) {
      const head = Buffer.allocUnsafe(4);
      writeChannelDataHeader(head, 0, channel.number, msg.length);
      this.#toClient(allocation, head, msg, undefined);
      return;
    }
    this.#dataIndication(allocation, relay.family, address, peerPort, msg);
  }

  /** A send a relayed socket's I/O refused after the call (Node's dgram); never fatal. */
  readonly onRelayError = (err: Error): void => {
    this.#metrics.drop('send-failed');
    this.#log.debug({ err }, 'relayed socket error');
  };

  /** RFC 8656 §10.3: Data indication = header + XOR-PEER-ADDRESS + DATA (+ padding), head written in place. */
  #dataIndication(allocation: Allocation, family: 4 | 6, address: string, port: number, data: Buffer): void {
    const addressLength = family === 6 ? 20 : 8;
    const dataAt = HEADER_LENGTH + 4 + addressLength;
    const padded = paddedLength(data.length);
    const bodyLength = dataAt - HEADER_LENGTH + 4 + padded;
    if (bodyLength > MAX_STUN_BODY) {
      this.#metrics.drop('send-failed');
      return;
    }
    const head = Buffer.allocUnsafe(dataAt + 4);
    head.writeUInt16BE(DATA_INDICATION, 0);
    head.writeUInt16BE(bodyLength, 2);
    head.writeUInt32BE(MAGIC_COOKIE, 4);
    const txid = this.#txid;
    txid.writeUInt32BE((txid.readUInt32BE(8) + 1) >>> 0, 8);
    txid.copy(head, 8);
    head.writeUInt16BE(Attr.XOR_PEER_ADDRESS, HEADER_LENGTH);
    head.writeUInt16BE(addressLength, HEADER_LENGTH + 2);
    if (encodeAddressAt(head, HEADER_LENGTH + 4, { family, address, port }, head) < 0) {
      this.#metrics.drop('internal-error');
      return;
    }
    head.writeUInt16BE(Attr.DATA, dataAt);
    head.writeUInt16BE(data.length, dataAt + 2);
    this.#toClient(allocation, head, data, padded === data.length ? undefined : PADDING[padded - data.length]);
  }

  #toClient(allocation: Allocation, head: Buffer, data: Buffer, padding: Buffer | undefined): void {
    const t = allocation.transport;
    const total = head.length + data.length + (padding === undefined ? 0 : padding.length);
    try {
      if (t.sendParts !== undefined) {
        const parts = padding === undefined ? [head, data] : [head, data, padding];
        if (t.sendParts(parts, allocation.clientAddress, allocation.clientPort) === false) {
          this.#metrics.drop('send-failed');
          return;
        }
      } else {
        const one = Buffer.allocUnsafe(total);
        head.copy(one, 0);
        data.copy(one, head.length);
        if (padding !== undefined) padding.copy(one, head.length + data.length);
        t.send(one, allocation.clientAddress, allocation.clientPort);
      }
    } catch {
      this.#metrics.drop('send-failed');
      return;
    }
    const m = this.#metrics;
    m.clientSentPackets += 1;
    m.clientSentBytes += total;
  }
}
