/**
 * The agent's Prometheus metrics (its own registry) and the optional /metrics server.
 * Labels come from the configuration (relay ids), never from traffic.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { HostPort } from '../src/config/fields.js';
import type { RelayStatus } from './health.js';
import type { ReconcileResult } from './lan.js';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly relaysHealthy: Gauge;
  readonly relayUp: Gauge<'relay'>;
  readonly reconcileRuns: Counter;
  readonly reconcileChanges: Counter;
  readonly reconcileFailures: Counter;

  constructor(pop: string) {
    this.registry.setDefaultLabels({ pop });
    const registers = [this.registry];
    this.relaysHealthy = new Gauge({ name: 'anyturn_agent_relays_healthy', help: 'relays that answer health probes', registers });
    this.relayUp = new Gauge({
      name: 'anyturn_agent_relay_up', help: '1 when the relay is healthy, 0 otherwise', labelNames: ['relay'], registers,
    });
    this.reconcileRuns = new Counter({ name: 'anyturn_agent_reconcile_runs_total', help: 'reconcile passes', registers });
    this.reconcileChanges = new Counter({
      name: 'anyturn_agent_reconcile_changes_total', help: 'kernel objects added, replaced or deleted', registers,
    });
    this.reconcileFailures = new Counter({
      name: 'anyturn_agent_reconcile_failures_total', help: 'operations the kernel refused (retried)', registers,
    });
  }

  observeHealth(statuses: readonly RelayStatus[]): void {
    let healthy = 0;
    for (const s of statuses) {
      const up = s.state === 'healthy' ? 1 : 0;
      healthy += up;
      this.relayUp.set({ relay: s.id }, up);
    }
    this.relaysHealthy.set(healthy);
  }

  observeReconcile(result: ReconcileResult): void {
    this.reconcileRuns.inc();
    this.reconcileChanges.inc(result.changes);
    this.reconcileFailures.inc(result.failed);
  }

  /** Serves GET /metrics; resolves once listening. */
  serve(at: HostPort): Promise<Server> {
    const server = createServer((req, res) => {
      if (req.method === 'GET' && req.url?.split('?')[0] === '/metrics') {
        this.registry.metrics().then(
          (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
          (err: Error) => res.writeHead(500).end(err.message),
        );
        return;
      }
      res.writeHead(404).end();
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.address, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }
}
