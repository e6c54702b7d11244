/**
 * Two (or more) in-process relays on loopback that share one embedded cluster store (MemoryClusterBackend), each
 * with a TurnServer, a UDP listener, ClusterSync (heartbeats with the overlay report, relayed-address claims) and
 * an OverlayNode with two paths (two loopback sockets). Fast timings (probes every 100 ms, down after 500 ms).
 */
import { selectUdpIo } from '../../../relay/datagram/udp-io.js';
import { countingUdpIo } from '../../support/counting-udp-io.js';
import { Registry } from 'prom-client';
import { RestSecrets, StaticUsers } from '../../../src/auth/credential-store.js';
import { NonceService } from '../../../src/auth/nonce.js';
import { MemoryClusterBackend, MemoryClusterStore } from '../../../src/cluster/memory-store.js';
import { silentLogger } from '../../../src/log.js';
import { ClusterSync } from '../../../relay/cluster-sync.js';
import { UdpListener } from '../../../relay/listen/udp.js';
import { RelayMetrics } from '../../../relay/metrics.js';
import { OverlayNode } from '../../../relay/overlay/overlay-node.js';
import { TurnServer } from '../../../relay/turn/turn-server.js';
import { turnOptions } from '../../../relay/turn/turn-options.js';
import { TurnClient } from '../../support/turn-client.js';

export const USER = { name: 'alice', password: 'secret-a' };
export const OVERLAY_KEY = 'overlay-test-key-0123456789abcdef';
const clock = { now: () => Date.now() };

export interface OverlayRelay {
  id: string;
  store: MemoryClusterStore;
  server: TurnServer;
  overlay: OverlayNode;
  metrics: RelayMetrics;
  /** Datagrams received on relayed ports the public way (not over the overlay). */
  relayedDatagrams(): number;
  client(): Promise<TurnClient>;
  close(): Promise<void>;
}

export async function startOverlayRelay(
  backend: MemoryClusterBackend,
  id: string,
  ports: { min: number; max: number },
  opts: { duplicate?: string[]; paths?: number; relayIp?: string } = {},
): Promise<OverlayRelay> {
  const log = silentLogger();
  const store = new MemoryClusterStore({ backend, clock });
  await store.start();
  const registry = new Registry();
  const metrics = new RelayMetrics(registry);
  const nonces = new NonceService({ key: Buffer.from('test-nonce-key'), ttlMs: 600_000, clock });
  const overlay = new OverlayNode(
    {
      id,
      addresses: Array.from({ length: opts.paths ?? 2 }, () => ({ address: '127.0.0.1', port: 0 })),
      duplicate: opts.duplicate ?? [],
      relayed: { addresses: [opts.relayIp ?? '127.0.0.1'], minPort: ports.min, maxPort: ports.max },
      probeIntervalMs: 100,
      downAfterMs: 500,
    },
    { store, registry, clock, log },
  );
  const udpIo = countingUdpIo(selectUdpIo('auto'), (o) => o.port >= ports.min && o.port <= ports.max);
  const server = new TurnServer(
    turnOptions({
      realm: 'test.realm', allowPeers: ['127.0.0.0/8'], minPort: ports.min, maxPort: ports.max, relayAddresses: [opts.relayIp ?? '127.0.0.1'],
    }),
    { credentials: new StaticUsers([USER]), nonces, clock, log, metrics, overlay, udpIo },
  );
  overlay.attach(server);
  await overlay.start();
  const listener = new UdpListener({ address: '127.0.0.1', port: 0, role: 'unicast' }, { server, log });
  await listener.listen();
  const sync = new ClusterSync(
    { id, pop: id, capacity: 100, linkCapacity: 1e9, authSecrets: [], fleetNonceKey: false, heartbeatIntervalMs: 100 },
    {
      store, turn: server, restSecrets: new RestSecrets([]), nonces, clock, log, draining: () => false,
      relayedBytes: () => ({ received: 0, sent: 0 }), addresses: () => [], overlay: () => overlay.report(),
    },
  );
  await sync.start();
  const clients: TurnClient[] = [];
  return {
    id, store, server, overlay, metrics,
    relayedDatagrams: () => udpIo.received,
    async client() {
      const c = await TurnClient.connect({
        server: { address: '127.0.0.1', port: listener.localPort }, username: USER.name, password: USER.password, rtoMs: 100,
      });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      overlay.close();
      server.close();
      await sync.close();
      await listener.close();
      await store.close();
    },
  };
}
