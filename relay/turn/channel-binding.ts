/**
 * A channel binding (RFC 8656 §12): channel number (CHANNEL_MIN-CHANNEL_MAX) ↔ peer transport address, for 600 s unless
 * refreshed by ChannelBind. Once expired it carries no data, but the number and the peer stay locked (no
 * rebinding to anything else) for 5 more minutes (§12: a stale ChannelData message still in flight must not be
 * delivered to a different peer); the allocation's sweep then forgets it.
 */
import type { TransportAddress } from '../../src/stun/index.js';
import type { RelayedSocket } from './relayed-socket.js';

/** How long an expired binding keeps its number and peer locked (RFC 8656 §12). */
export const CHANNEL_LOCK_MS = 300_000;

export class ChannelBinding {
  readonly number: number;
  readonly peer: TransportAddress;
  /** The relayed socket of the peer's family (dual allocations have two). */
  readonly relay: RelayedSocket;
  expiresAt: number;
  /** @internal Allocation's peer index: next binding whose peer has the same port (another IP). */
  nextSamePort: ChannelBinding | undefined = undefined;

  constructor(number: number, peer: TransportAddress, relay: RelayedSocket, expiresAt: number) {
    this.number = number;
    this.peer = peer;
    this.relay = relay;
    this.expiresAt = expiresAt;
  }

  /** Whether the binding's peer is address:port. */
  isFor(address: string, port: number): boolean {
    return this.peer.port === port && this.peer.address === address;
  }

  isValid(nowMs: number): boolean {
    return this.expiresAt > nowMs;
  }

  /** Past its lock period: the sweep may forget it. */
  isForgotten(nowMs: number): boolean {
    return this.expiresAt + CHANNEL_LOCK_MS <= nowMs;
  }

  refresh(nowMs: number, lifetimeMs: number): void {
    this.expiresAt = nowMs + lifetimeMs;
  }
}
