/**
 * A relayed transport address (RFC 8656 §2): one UDP socket bound to a relay IP and a port booked from the
 * PortAllocator. Closing it closes the socket and gives the port back.
 *
 * The socket is a UdpSocket (relay/datagram/): with the native engine, a bare fd in the process's epoll set, which
 * is what keeps an idle allocation small; with Node's dgram, a dgram.Socket.
 */
import type { UdpSocket } from '../datagram/udp-socket.js';
import type { Allocation } from './allocation.js';
import type { PortAllocator } from './port-allocator.js';

export class RelayedSocket {
  readonly family: 4 | 6;
  /** The address the socket is bound to. */
  readonly address: string;
  /** The address clients and peers are told (XOR-RELAYED-ADDRESS): `address`, or its external-ip mapping. */
  readonly advertisedAddress: string;
  readonly port: number;
  readonly socket: UdpSocket;
  readonly allocation: Allocation;
  readonly #ports: PortAllocator;
  #closed = false;

  constructor(
    family: 4 | 6,
    address: string,
    port: number,
    socket: UdpSocket,
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

  /** Sends one datagram to a peer from this relayed address; false when it was not sent. */
  send(data: Buffer, peerPort: number, peerAddress: string): boolean {
    return this.socket.send(data, peerPort, peerAddress);
  }

  /** Idempotent: closes the socket and releases the port. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close();
    this.#ports.release(this.address, this.port);
  }
}
