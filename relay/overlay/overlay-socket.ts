/**
 * One overlay socket (one per path): UDP bound exclusively to the path's address, with large kernel buffers and a
 * synchronous `lookup` for IP literals (relay/datagram/node-io.ts), so that a send reaches
 * the kernel in the same tick. A socket that cannot bind is closed and the bind error is thrown.
 */
import dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { literalLookup } from '../datagram/node-io.js';

export function bindOverlaySocket(
  address: string,
  port: number,
  bufferBytes: number,
  on: { message: (msg: Buffer, rinfo: RemoteInfo) => void; error: (err: Error) => void },
): Promise<dgram.Socket> {
  const family = address.includes(':') ? 6 : 4;
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({
      type: family === 6 ? 'udp6' : 'udp4',
      ipv6Only: family === 6,
      recvBufferSize: bufferBytes,
      sendBufferSize: bufferBytes,
      lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
    });
    const failed = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', failed);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', failed);
      socket.on('error', on.error);
      socket.on('message', on.message);
      resolve(socket);
    });
  });
}
