/**
 * A relayed transport address (RFC 8656 §2): one UDP socket bound to a relay IP and a port booked from the
 * PortAllocator. Closing it closes the socket and gives the port back.
 *
 * Sockets are made with a synchronous `lookup` (addresses are always IP literals here), so `send()` reaches
 * the kernel in the same tick instead of after a dns.lookup round through process.nextTick.
 */
import dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import type { Allocation } from './allocation.js';
import type { PortAllocator } from './port-allocator.js';

/** dgram `lookup` for IP literals: answers synchronously with the address itself. */
export function literalLookup(
  address: string,
  _options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

/** Makes an unbound UDP socket of a family (injected so tests and benches can wrap sockets). */
export type RelayedSocketFactory = (family: 4 | 6) => dgram.Socket;

export const defaultRelayedSocketFactory: RelayedSocketFactory = (family) =>
  dgram.createSocket({
    type: family === 6 ? 'udp6' : 'udp4',
    ipv6Only: family === 6,
    lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
  });

export type PeerMessageHandler = (relay: RelayedSocket, msg: Buffer, rinfo: RemoteInfo) => void;

export class RelayedSocket {
  readonly family: 4 | 6;
  /** The address the socket is bound to. */
  readonly address: string;
  /** The address clients and peers are told (XOR-RELAYED-ADDRESS): `address`, or its external-ip mapping. */
  readonly advertisedAddress: string;
  readonly port: number;
  readonly socket: dgram.Socket;
  readonly allocation: Allocation;
  readonly #ports: PortAllocator;
  #closed = false;

  constructor(
    family: 4 | 6,
    address: string,
    port: number,
    socket: dgram.Socket,
    allocation: Allocation,
    ports: PortAllocator,
    advertisedAddress: string = address,
  ) {
    this.family = family;
    this.address = address;
    this.advertisedAddress = advertisedAddress;
    this.port = port;
    this.socket = socket;
    this.allocation = allocation;
    this.#ports = ports;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Idempotent: closes the socket and releases the port. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed by an error path: nothing left to free
    }
    this.#ports.release(this.address, this.port);
  }
}

/**
 * Binds a socket from `factory` to address:port; the port must already be booked by the caller.
 * Rejects with the bind error (the socket is closed then; the caller releases the port).
 */
export function bindRelaySocket(factory: RelayedSocketFactory, family: 4 | 6, address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    let socket: dgram.Socket;
    try {
      socket = factory(family);
    } catch (err) {
      reject(err);
      return;
    }
    const onError = (err: Error): void => {
      try {
        socket.close();
      } catch {
        // closing a socket that failed to bind may throw: nothing to free
      }
      reject(err);
    };
    socket.once('error', onError);
    try {
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    } catch (err) {
      onError(err as Error);
    }
  });
}
