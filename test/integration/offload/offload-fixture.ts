/**
 * An in-process relay with the kernel fast path on the host's loopback: TurnServer + a real UDP listener on
 * 127.0.0.1 (port 0) + the eBPF program attached at tcx ingress of `lo` + ChannelOffload. The program only touches
 * packets of the flows this relay installs (everything else goes on unchanged), and it is detached when the
 * fixture closes or the test process dies (the link is owned by the process's fd), so other users of `lo` see
 * nothing of it.
 */
import { Registry } from 'prom-client';
import { StaticUsers } from '../../../src/auth/credential-store.js';
import { NonceService } from '../../../src/auth/nonce.js';
import type { Clock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/log.js';
import { UdpListener } from '../../../relay/listen/udp.js';
import { RelayMetrics } from '../../../relay/metrics.js';
import { ChannelOffload } from '../../../relay/offload/channel-offload.js';
import { KernelFastPath } from '../../../relay/offload/kernel-fast-path.js';
import { loadBpfAddon, type BpfAddon } from '../../../relay/offload/native.js';
import { OffloadMetrics } from '../../../relay/offload/offload-metrics.js';
import { NO_ADDRESS_MAP } from '../../../relay/turn/address-map.js';
import { TurnServer } from '../../../relay/turn/turn-server.js';
import { turnOptions, type TurnOptions } from '../../../relay/turn/turn-options.js';
import { TurnClient } from '../../support/turn-client.js';

export const USER = { name: 'alice', password: 'secret-a' };

/** The addon, or a thrown error saying why (npm ci builds it; a test must not silently pass without it). */
export function requireAddon(): BpfAddon {
  const addon = loadBpfAddon();
  if (typeof addon === 'string') throw new Error(addon);
  return addon;
}

export interface OffloadedRelay {
  server: TurnServer;
  metrics: RelayMetrics;
  offloadMetrics: OffloadMetrics;
  offload: ChannelOffload;
  address: { address: string; port: number };
  client(): Promise<TurnClient>;
  close(): Promise<void>;
}

/** `host`: the loopback address of the family to serve on (listen and relay address). */
export async function startOffloadedRelay(
  options: Partial<TurnOptions> = {},
  clock: Clock = { now: () => Date.now() },
  host = '127.0.0.1',
): Promise<OffloadedRelay> {
  const addon = requireAddon();
  const registry = new Registry();
  const metrics = new RelayMetrics(registry);
  const offloadMetrics = new OffloadMetrics(registry);
  const kernel = new KernelFastPath(addon, ['lo']);
  const offload = new ChannelOffload({
    kernel, metrics, offloadMetrics, addresses: NO_ADDRESS_MAP, log: silentLogger(), now: () => clock.now(),
  });
  const server = new TurnServer(
    turnOptions({
      realm: 'offload.test', relayAddresses: [host], allowPeers: ['127.0.0.0/8', '::1/128'], minPort: 40000, maxPort: 49999,
      ...options,
    }),
    {
      credentials: new StaticUsers([USER]),
      nonces: new NonceService({ key: Buffer.from('offload-test-key'), ttlMs: 3_600_000, clock }),
      clock,
      log: silentLogger(),
      metrics,
      flows: offload,
    },
  );
  const listener = new UdpListener({ address: host, port: 0, role: 'unicast' }, { server, log: silentLogger() });
  try {
    await listener.listen();
  } catch (err) {
    server.close();
    offload.close();
    kernel.close();
    throw err;
  }
  const address = { address: host, port: listener.localPort };
  const clients: TurnClient[] = [];
  return {
    server,
    metrics,
    offloadMetrics,
    offload,
    address,
    async client() {
      const c = await TurnClient.connect({ server: address, username: USER.name, password: USER.password, rtoMs: 100 });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      server.close();
      offload.close();
      kernel.close();
      await listener.close();
    },
  };
}
