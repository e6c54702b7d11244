/**
 * The data path's one hook for the overlay (relay/overlay/): before a relayed datagram goes to a peer on the
 * public network, the route may carry it to the relay that owns the peer's relayed address instead. It returns
 * true when it took the datagram, false to let it go the public way (the peer is no anyturn relay, or no overlay
 * path to it is up). It never throws.
 */
import type { RelayedSocket } from './relayed-socket.js';

export interface OverlayRoute {
  forward(relay: RelayedSocket, peerAddress: string, peerPort: number, data: Buffer): boolean;
}
