/**
 * How the test TURN client (turn-client.ts) moves bytes to and from the server: a UDP socket (one datagram per
 * message), or a TCP/TLS connection cut into messages by the relay's own StreamFramer (RFC 8656 §12.5), which also
 * checks what the server sends: bytes it cannot frame destroy the connection.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { StreamFramer } from '../../relay/listen/framing.js';
import type { TransportAddress } from '../../src/stun/index.js';

export type TurnTransport = 'udp' | 'tcp' | 'tls';

export interface ClientSocketOptions {
  server: { address: string; port: number };
  transport: TurnTransport;
  /** Local address to bind (UDP default: 127.0.0.1, or ::1 for an IPv6 server). */
  localAddress?: string;
  /** Every message from the server: a datagram, or one framed message (a copy). */
  onPacket(packet: Buffer): void;
}

export interface ClientSocket<S extends dgram.Socket | net.Socket> {
  readonly socket: S;
  /** TCP or TLS: reliable, so requests are not retransmitted (RFC 8489 §6.2.2) and ChannelData is padded. */
  readonly stream: boolean;
  send(data: Buffer): void;
  localAddress(): TransportAddress;
  /** Resolves once the socket is closed, by either side. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

export async function openDatagramSocket(options: ClientSocketOptions): Promise<ClientSocket<dgram.Socket>> {
  const { server } = options;
  const v6 = server.address.includes(':');
  const socket = dgram.createSocket(v6 ? 'udp6' : 'udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, options.localAddress ?? (v6 ? '::1' : '127.0.0.1'), () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('message', (msg) => options.onPacket(msg));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    stream: false,
    send: (data) => socket.send(data, server.port, server.address),
    localAddress: () => {
      const a = socket.address();
      return { family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port };
    },
    closed,
    close: () => {
      socket.close();
      return closed;
    },
  };
}

export async function openStreamSocket(options: ClientSocketOptions): Promise<ClientSocket<net.Socket>> {
  const { address: host, port } = options.server;
  const { localAddress } = options;
  const secure = options.transport === 'tls';
  const tcp = (): net.Socket => net.connect({ host, port, localAddress });
  // tls.connect takes no local address: it then wraps a TCP socket bound to it.
  const socket = secure
    ? tls.connect({ ...(localAddress === undefined ? { host, port } : { socket: tcp() }), rejectUnauthorized: false })
    : tcp();
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const framer = new StreamFramer((m) => options.onPacket(Buffer.from(m)));
  socket.on('data', (chunk: Buffer) => {
    if (framer.push(chunk) === 'garbage') socket.destroy(new Error('relay sent garbage'));
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    stream: true,
    send: (data) => socket.write(data),
    localAddress: () => ({
      family: socket.localFamily === 'IPv6' ? 6 : 4,
      address: socket.localAddress ?? '',
      port: socket.localPort ?? 0,
    }),
    closed,
    close: () => {
      socket.destroy();
      return closed;
    },
  };
}
