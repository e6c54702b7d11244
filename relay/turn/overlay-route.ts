/**
 * The data path's one hook for the overlay (relay/overlay/): before a relayed datagram goes to a peer on the
 * public network, the route may carry it to the relay that owns the peer's relayed address instead. It returns
 * true when it took the datagram, false to let it go the public way (the peer is no anyturn relay, or no overlay
 * path to it is up). It never throws.
 */
import type { RelayedSocket } from './relayed-socket.js';

export interface OverlayRoute {
  forward(relay: RelayedSocket, peerAddress: string, peerPort: number, data: Buffer): boolean;
  /**
   * Whether datagrams to this peer are the overlay's to carry (it is another relay's relayed address and the
   * overlay has a key): such a channel stays on the data path that holds this hook (the kernel fast path does
   * not carry the overlay yet).
   */
  carries(family: 4 | 6, peerAddress: string, peerPort: number): boolean;
}
