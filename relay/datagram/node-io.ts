/**
 * UDP through Node's dgram: one dgram.Socket (a libuv handle and an EventEmitter) per bound socket, one callback
 * per datagram. The portable path, used where the native engine (native-io.ts) is not built.
 */
import dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import type { UdpBindOptions, UdpIo, UdpSocket, UdpSocketEvents } from './udp-socket.js';

/** dgram `lookup` for IP literals: answers synchronously with the address itself (no dns.lookup round). */
export function literalLookup(
  address: string,
  _options: unknown,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  callback(null, address, address.includes(':') ? 6 : 4);
}

class NodeUdpSocket implements UdpSocket {
  readonly localAddress: string;
  readonly localPort: number;
  readonly #socket: dgram.Socket;
  #closed = false;

  constructor(socket: dgram.Socket) {
    this.#socket = socket;
    const bound = socket.address();
    this.localAddress = bound.address;
    this.localPort = bound.port;
  }

  send(data: Buffer, port: number, address: string): boolean {
    try {
      this.#socket.send(data, port, address);
      return true;
    } catch {
      return false;
    }
  }

  sendParts(parts: readonly Buffer[], port: number, address: string): boolean {
    try {
      this.#socket.send(parts as Buffer[], port, address);
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#socket.close();
    } catch {
      // already closed by an error path: nothing left to free
    }
  }
}

export const nodeUdpIo: UdpIo = {
  kind: 'node',
  bind(options: UdpBindOptions, events: UdpSocketEvents): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      let socket: dgram.Socket;
      try {
        socket = dgram.createSocket({
          type: options.family === 6 ? 'udp6' : 'udp4',
          ipv6Only: options.family === 6,
          lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
        });
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
        socket.bind({ address: options.address, port: options.port, exclusive: true }, () => {
          socket.off('error', onError);
          try {
            if (options.receiveBufferSize) socket.setRecvBufferSize(options.receiveBufferSize);
            if (options.sendBufferSize) socket.setSendBufferSize(options.sendBufferSize);
          } catch (err) {
            onError(err as Error);
            return;
          }
          const message = events.message;
          socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => message(msg, rinfo.address, rinfo.port));
          socket.on('error', events.sendError);
          resolve(new NodeUdpSocket(socket));
        });
      } catch (err) {
        onError(err as Error);
      }
    });
  },
};
