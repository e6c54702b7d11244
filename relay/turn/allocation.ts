/**
 * An allocation (RFC 8656 §2, §3): the relayed transport address(es) a client holds on this relay, identified
 * by its 5-tuple, with its permissions and channel bindings.
 *
 * Kept small on purpose (an idle allocation should cost well under 4 KB of heap besides the kernel socket):
 * permission and channel maps are created on first use, lifetimes are timestamps checked by the code that uses
 * them and swept by the server's one periodic sweep, and the bandwidth bucket is two number fields.
 *
 * close() cascades: permissions, channels, then the relayed sockets (which give their ports back).
 */
import type { TransportAddress } from '../../src/stun/index.js';
import { ChannelBinding } from './channel-binding.js';
import type { ClientTransport } from './client-transport.js';
import { fiveTupleOf, type FiveTuple } from './five-tuple.js';
import { Permission } from './permission.js';
import type { ChannelLedger, TokenBucketState } from './quota.js';
import type { RelayedSocket } from './relayed-socket.js';

export type ChannelBindResult = 'ok' | 'number-bound-to-other-peer' | 'peer-bound-to-other-number';

export class Allocation implements TokenBucketState {
  readonly transport: ClientTransport;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** USERNAME that created it: later requests must carry the same one (441). */
  readonly username: string;
  readonly createdAt: number;
  /** One relayed socket, or two for a dual-stack allocation (IPv4 first). */
  relayedSockets: RelayedSocket[] = [];
  expiresAt: number;
  permissions: Map<string, Permission> | undefined = undefined;
  channels: Map<number, ChannelBinding> | undefined = undefined;
  /** Bindings by peer port (per packet from a peer: no string key); same-port peers chain via nextSamePort. */
  channelsByPeerPort: Map<number, ChannelBinding> | undefined = undefined;
  bucketTokens: number;
  bucketAt: number;
  /** @internal AllocationTable: next allocation of the same transport and client port (another client IP). */
  nextSamePort: Allocation | undefined = undefined;
  readonly #ledger: ChannelLedger | undefined;
  #closed = false;

  constructor(init: {
    transport: ClientTransport;
    clientAddress: string;
    clientPort: number;
    username: string;
    nowMs: number;
    lifetimeMs: number;
    bucketBytes: number;
    /** Told of every channel binding gained and lost (the per-user channel count). */
    ledger?: ChannelLedger;
  }) {
    this.transport = init.transport;
    this.clientAddress = init.clientAddress;
    this.clientPort = init.clientPort;
    this.username = init.username;
    this.createdAt = init.nowMs;
    this.expiresAt = init.nowMs + init.lifetimeMs;
    this.bucketTokens = init.bucketBytes;
    this.bucketAt = init.nowMs;
    this.#ledger = init.ledger;
  }

  /** Channel bindings held (bound, or locked after expiry until the sweep forgets them). */
  get channelCount(): number {
    return this.channels?.size ?? 0;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get fiveTuple(): FiveTuple {
    return fiveTupleOf(this.transport, this.clientAddress, this.clientPort);
  }

  /** The relayed transport addresses as advertised to clients (external-ip mapping applied), IPv4 first. */
  get relayedAddresses(): TransportAddress[] {
    return this.relayedSockets.map((r) => ({ family: r.family, address: r.advertisedAddress, port: r.port }));
  }

  /** The relayed socket of a family, if the allocation has one. */
  relayFor(family: 4 | 6): RelayedSocket | undefined {
    const r = this.relayedSockets;
    if (r.length > 0 && r[0].family === family) return r[0];
    if (r.length > 1 && r[1].family === family) return r[1];
    return undefined;
  }

  isExpired(nowMs: number): boolean {
    return this.expiresAt <= nowMs;
  }

  refresh(nowMs: number, lifetimeMs: number): void {
    this.expiresAt = nowMs + lifetimeMs;
  }

  /** The permission for a peer IP if it is still valid (per packet). */
  validPermission(peerAddress: string, nowMs: number): Permission | undefined {
    const p = this.permissions?.get(peerAddress);
    return p !== undefined && p.expiresAt > nowMs ? p : undefined;
  }

  /** Installs or refreshes the permission for a peer IP (RFC 8656 §9.2). */
  /** Whether permissions for `peerAddresses` fit under `max` (addresses already permitted take no new room). */
  permissionsFit(peerAddresses: readonly string[], max: number): boolean {
    const fresh = new Set(peerAddresses.filter((a) => this.permissions?.has(a) !== true));
    return (this.permissions?.size ?? 0) + fresh.size <= max;
  }

  installPermission(peerAddress: string, nowMs: number, lifetimeMs: number): void {
    if (this.permissions === undefined) this.permissions = new Map();
    const p = this.permissions.get(peerAddress);
    if (p !== undefined) p.refresh(nowMs, lifetimeMs);
    else this.permissions.set(peerAddress, new Permission(peerAddress, nowMs + lifetimeMs));
  }

  channel(number: number): ChannelBinding | undefined {
    return this.channels?.get(number);
  }

  /** Per packet from a peer: the binding of address:port, if any (valid or not). */
  channelForPeer(address: string, port: number): ChannelBinding | undefined {
    if (this.channelsByPeerPort === undefined) return undefined;
    let c = this.channelsByPeerPort.get(port);
    while (c !== undefined && c.peer.address !== address) c = c.nextSamePort;
    return c;
  }

  /**
   * RFC 8656 §11.2: binds `number` to `peer` or refreshes that exact binding. A number bound (or locked) to
   * another peer, or a peer bound to another number, is refused.
   */
  bindChannel(number: number, peer: TransportAddress, relay: RelayedSocket, nowMs: number, lifetimeMs: number): ChannelBindResult {
    const byNumber = this.channels?.get(number);
    const byPeer = this.channelForPeer(peer.address, peer.port);
    if (byNumber !== undefined && !byNumber.isFor(peer.address, peer.port)) return 'number-bound-to-other-peer';
    if (byPeer !== undefined && byPeer.number !== number) return 'peer-bound-to-other-number';
    if (byNumber !== undefined) {
      byNumber.refresh(nowMs, lifetimeMs);
      return 'ok';
    }
    if (this.channels === undefined) this.channels = new Map();
    if (this.channelsByPeerPort === undefined) this.channelsByPeerPort = new Map();
    const binding = new ChannelBinding(number, peer, relay, nowMs + lifetimeMs);
    this.channels.set(number, binding);
    binding.nextSamePort = this.channelsByPeerPort.get(peer.port);
    this.channelsByPeerPort.set(peer.port, binding);
    this.#ledger?.channelsChanged(this.username, 1);
    return 'ok';
  }

  #forgetChannel(binding: ChannelBinding): void {
    if (this.channels?.delete(binding.number) === true) this.#ledger?.channelsChanged(this.username, -1);
    const byPort = this.channelsByPeerPort;
    if (byPort === undefined) return;
    const head = byPort.get(binding.peer.port);
    if (head === binding) {
      if (binding.nextSamePort === undefined) byPort.delete(binding.peer.port);
      else byPort.set(binding.peer.port, binding.nextSamePort);
    } else {
      let c = head;
      while (c !== undefined && c.nextSamePort !== binding) c = c.nextSamePort;
      if (c !== undefined) c.nextSamePort = binding.nextSamePort;
    }
    binding.nextSamePort = undefined;
  }

  /** Forgets expired permissions and channels past their lock period (called by the periodic sweep). */
  sweep(nowMs: number): void {
    if (this.permissions !== undefined) {
      for (const [address, p] of this.permissions) if (!p.isValid(nowMs)) this.permissions.delete(address);
      if (this.permissions.size === 0) this.permissions = undefined;
    }
    if (this.channels !== undefined) {
      for (const c of this.channels.values()) if (c.isForgotten(nowMs)) this.#forgetChannel(c);
      if (this.channels.size === 0) {
        this.channels = undefined;
        this.channelsByPeerPort = undefined;
      }
    }
  }

  /** Drops the relayed address of one family (Refresh with lifetime 0 and REQUESTED-ADDRESS-FAMILY). */
  removeRelayedSocket(family: 4 | 6): void {
    const relay = this.relayFor(family);
    if (relay === undefined) return;
    this.relayedSockets = this.relayedSockets.filter((r) => r !== relay);
    if (this.channels !== undefined) {
      for (const c of this.channels.values()) if (c.relay === relay) this.#forgetChannel(c);
    }
    relay.close();
  }

  /** Idempotent. Permissions, channels, then sockets. The table entry and quota are the server's to free. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.channelCount > 0) this.#ledger?.channelsChanged(this.username, -this.channelCount);
    this.permissions = undefined;
    this.channels = undefined;
    this.channelsByPeerPort = undefined;
    for (const relay of this.relayedSockets) relay.close();
  }
}
