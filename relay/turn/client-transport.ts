/**
 * How the TURN core answers one client through one listener (relay/listen/*). The listener owns the socket;
 * the core only calls `send`.
 */
import type { TransportProtocol } from './five-tuple.js';

export type ListenerRole = 'unicast' | 'anycast';

export interface ClientTransport {
  readonly protocol: TransportProtocol;
  readonly role: ListenerRole;
  readonly localAddress: string;
  readonly localPort: number;
  /**
   * Sends one STUN message or ChannelData message (stream transports pad ChannelData to 4).
   * The core never touches `data` again after the call, but the transport may send it later (it must not
   * assume it can reuse the buffer either: the core may pass subarrays of a received packet).
   */
  send(data: Buffer, clientAddress: string, clientPort: number): void;
  /**
   * Optional: sends one message given as consecutive parts (header, payload, padding) without joining them
   * (sendmsg and writev both take arrays). The core falls back to one copied buffer and `send` when absent.
   * May return false: the datagram was not sent (the core counts the drop).
   */
  sendParts?(parts: readonly Buffer[], clientAddress: string, clientPort: number): boolean | void;
}
