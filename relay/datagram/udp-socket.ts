/**
 * One bound UDP socket as the relay uses it (listeners and relayed transport addresses), whichever I/O carries it:
 * the native engine (native-io.ts: a bare fd in one epoll set, datagrams read in batches with recvmmsg) or Node's
 * dgram (node-io.ts). Chosen once per process by `udp-io` (udp-io.ts).
 */

/**
 * A datagram arrived. `msg` may share memory with other datagrams of the same batch: it stays valid and unchanged
 * for as long as it is referenced, but holding it holds the whole batch (copy what you keep for long).
 */
export type DatagramHandler = (msg: Buffer, address: string, port: number) => void;

export interface UdpSocketEvents {
  message: DatagramHandler;
  /** A send refused after the call returned (Node's dgram only: the native engine answers at once). */
  sendError: (err: Error) => void;
}

export interface UdpBindOptions {
  family: 4 | 6;
  /** An IP literal. */
  address: string;
  /** 0 picks a free one (see UdpSocket.localPort). */
  port: number;
  /** SO_RCVBUF / SO_SNDBUF in bytes (the kernel caps them at net.core.rmem_max / wmem_max). */
  receiveBufferSize?: number;
  sendBufferSize?: number;
}

export interface UdpSocket {
  readonly localAddress: string;
  readonly localPort: number;
  /** Sends one datagram now; false when it was not taken (the caller counts the drop). Never throws. */
  send(data: Buffer, port: number, address: string): boolean;
  /** The same, for one datagram given as up to three consecutive parts (header, payload, padding). */
  sendParts(parts: readonly Buffer[], port: number, address: string): boolean;
  /** Idempotent. */
  close(): void;
}

export interface UdpIo {
  readonly kind: 'native' | 'node';
  /** Binds at once; rejects with the bind error (its `code`, e.g. EADDRINUSE). */
  bind(options: UdpBindOptions, events: UdpSocketEvents): Promise<UdpSocket>;
}
