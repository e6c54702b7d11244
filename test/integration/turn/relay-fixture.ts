/**
 * A TurnServer with a real UDP listener on 127.0.0.1 (port 0), static users and a fresh metrics registry,
 * plus a plain UDP "peer" socket, for the TURN integration tests.
 */
import dgram from 'node:dgram';
import { Registry } from 'prom-client';
import { StaticUsers, type CredentialStore } from '../../../src/auth/credential-store.js';
import { NonceService } from '../../../src/auth/nonce.js';
import type { Clock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/log.js';
import type { TransportAddress } from '../../../src/stun/index.js';
import type { UdpIoMode } from '../../../src/config/schema.js';
import { selectUdpIo } from '../../../relay/datagram/udp-io.js';
import { UdpListener } from '../../../relay/listen/udp.js';
import { RelayMetrics } from '../../../relay/metrics.js';
import { TurnServer } from '../../../relay/turn/turn-server.js';
import { turnOptions, type TurnOptions } from '../../../relay/turn/turn-options.js';
import { TurnClient, TurnErrorResponse, type TurnClientOptions } from '../../support/turn-client.js';

export const USER = { name: 'alice', password: 'secret-a' };
export const USER2 = { name: 'bob', password: 'secret-b' };

export interface Relay {
  server: TurnServer;
  listener: UdpListener;
  metrics: RelayMetrics;
  registry: Registry;
  nonces: NonceService;
  address: { address: string; port: number };
  client(opts?: Partial<TurnClientOptions>): Promise<TurnClient>;
  close(): Promise<void>;
}

export async function startRelay(
  options: Partial<TurnOptions> = {},
  extra: { credentials?: CredentialStore; clock?: Clock; nonceTtlMs?: number; udpIo?: UdpIoMode } = {},
): Promise<Relay> {
  const clock = extra.clock ?? { now: () => Date.now() };
  const registry = new Registry();
  const metrics = new RelayMetrics(registry);
  const nonces = new NonceService({ key: Buffer.from('test-nonce-key'), ttlMs: extra.nonceTtlMs ?? 600_000, clock });
  const server = new TurnServer(
    turnOptions({ realm: 'test.realm', allowPeers: ['127.0.0.0/8', '::1/128'], minPort: 40000, maxPort: 49999, ...options }),
    {
      credentials: extra.credentials ?? new StaticUsers([USER, USER2]),
      nonces,
      clock,
      log: silentLogger(),
      metrics,
      udpIo: selectUdpIo(extra.udpIo ?? 'auto'),
    },
  );
  const listener = new UdpListener({ address: '127.0.0.1', port: 0, role: 'unicast' }, { server, log: silentLogger() });
  await listener.listen();
  const address = { address: '127.0.0.1', port: listener.localPort };
  const clients: TurnClient[] = [];
  return {
    server,
    listener,
    metrics,
    registry,
    nonces,
    address,
    async client(opts = {}) {
      const c = await TurnClient.connect({ server: address, username: USER.name, password: USER.password, rtoMs: 100, ...opts });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      server.close();
      await listener.close();
    },
  };
}

/** A plain UDP socket standing in for a peer; collects what it receives. */
export interface Peer {
  socket: dgram.Socket;
  address: TransportAddress;
  received: { data: Buffer; from: TransportAddress }[];
  next(timeoutMs?: number): Promise<{ data: Buffer; from: TransportAddress }>;
  send(data: Buffer, to: TransportAddress): void;
  close(): Promise<void>;
}

export async function startPeer(address = '127.0.0.1'): Promise<Peer> {
  const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  const received: { data: Buffer; from: TransportAddress }[] = [];
  let waiter: ((m: { data: Buffer; from: TransportAddress }) => void) | undefined;
  socket.on('message', (data, rinfo) => {
    const m = { data, from: { family: rinfo.family === 'IPv6' ? (6 as const) : (4 as const), address: rinfo.address, port: rinfo.port } };
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(m);
    } else received.push(m);
  });
  const a = socket.address();
  return {
    socket,
    address: { family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port },
    received,
    next(timeoutMs = 2000) {
      const queued = received.shift();
      if (queued) return Promise.resolve(queued);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          waiter = undefined;
          reject(new Error('peer received nothing'));
        }, timeoutMs);
        waiter = (m) => {
          clearTimeout(t);
          resolve(m);
        };
      });
    },
    send(data, to) {
      socket.send(data, to.port, to.address);
    },
    close() {
      return new Promise((resolve) => socket.close(() => resolve()));
    },
  };
}

/** Resolves with the next 'data' event of a client. */
export function nextData(client: TurnClient, timeoutMs = 2000): Promise<{ peer: TransportAddress; data: Buffer; via: string; channel?: number }> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('client received no data')), timeoutMs);
    client.once('data', (peer, data, via, channel) => {
      clearTimeout(t);
      resolve({ peer, data: Buffer.from(data), via, channel });
    });
  });
}

/** The error response a TURN client call was rejected with (fails the test when it resolved). */
export async function errorResponseOf(p: Promise<unknown>): Promise<TurnErrorResponse> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof TurnErrorResponse)) throw new Error(`expected an error response, got ${String(err)}`);
  return err;
}

/** The STUN error code a TURN client call was rejected with. */
export async function codeOf(p: Promise<unknown>): Promise<number> {
  return (await errorResponseOf(p)).code;
}
