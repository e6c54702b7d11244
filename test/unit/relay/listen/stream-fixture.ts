/**
 * A real TurnServer behind a real TCP (or TLS) listener on 127.0.0.1, port 0, for the listener tests.
 */
import { Registry } from 'prom-client';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { NonceService } from '../../../../src/auth/nonce.js';
import { systemClock } from '../../../../src/clock.js';
import { silentLogger } from '../../../../src/log.js';
import { StreamMetrics } from '../../../../relay/listen/stream-metrics.js';
import type { StreamListener, StreamListenerOptions } from '../../../../relay/listen/stream-listener.js';
import { TcpListener } from '../../../../relay/listen/tcp.js';
import { TlsListener } from '../../../../relay/listen/tls.js';
import { RelayMetrics } from '../../../../relay/metrics.js';
import { TurnServer } from '../../../../relay/turn/turn-server.js';
import { turnOptions } from '../../../../relay/turn/turn-options.js';

export const USER = { name: 'alice', password: 'secret-a' };

export interface StreamRelay {
  turn: TurnServer;
  listener: StreamListener;
  metrics: RelayMetrics;
  streamMetrics: StreamMetrics;
  port: number;
  close(): Promise<void>;
}

export async function startStreamRelay(
  kind: 'tcp' | { certFile: string; keyFile: string },
  options: Partial<StreamListenerOptions> = {},
): Promise<StreamRelay> {
  const registry = new Registry();
  const metrics = new RelayMetrics(registry);
  const streamMetrics = new StreamMetrics(registry);
  const log = silentLogger();
  const turn = new TurnServer(turnOptions({ realm: 'test.realm', allowPeers: ['127.0.0.0/8'], minPort: 42000, maxPort: 42999 }), {
    credentials: new StaticUsers([USER]),
    nonces: new NonceService({ key: Buffer.from('stream-test-nonce-key'), ttlMs: 600_000, clock: systemClock }),
    clock: systemClock,
    log,
    metrics,
  });
  const base = { address: '127.0.0.1', port: 0, role: 'unicast' as const, ...options };
  const deps = { sink: turn, log, metrics, streamMetrics };
  const listener = kind === 'tcp' ? new TcpListener(base, deps) : new TlsListener({ ...base, ...kind }, deps);
  await listener.listen();
  return {
    turn,
    listener,
    metrics,
    streamMetrics,
    port: listener.localPort,
    async close() {
      await listener.close();
      turn.close();
    },
  };
}
