/**
 * TCP listener (RFC 8656 §3.1, RFC 8489 §6.2.2): STUN and TURN over TCP on address:port. Each connection is a
 * StreamConnection (framing, padding, idle timeout); this file only makes the server.
 */
import net, { type Server, type Socket } from 'node:net';
import { StreamListener, type StreamListenerDeps, type StreamListenerOptions } from './stream-listener.js';

export type TcpListenerOptions = StreamListenerOptions;

export class TcpListener extends StreamListener {
  constructor(options: TcpListenerOptions, deps: StreamListenerDeps) {
    super('tcp', options, deps);
  }

  protected createServer(onSocket: (socket: Socket) => void): Server {
    return net.createServer({ noDelay: true, pauseOnConnect: false }, onSocket);
  }
}
