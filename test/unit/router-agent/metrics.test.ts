import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AgentMetrics } from '../../../router-agent/metrics.js';
import type { RelayStatus } from '../../../router-agent/health.js';

const status = (id: string, state: RelayStatus['state']): RelayStatus => ({
  id, address: '10.9.9.11', port: 3478, state, consecutiveFailures: 0, consecutiveSuccesses: 1, rttMs: 1, since: 0,
});

describe('AgentMetrics', () => {
  it('exports relay health and reconcile counters with the PoP label, over HTTP', async () => {
    const m = new AgentMetrics('pop1');
    m.observeHealth([status('r1', 'healthy'), status('r2', 'unhealthy'), status('r3', 'unknown')]);
    m.observeReconcile({ changes: 7, failed: 1, ops: [], errors: [] });
    m.observeReconcile({ changes: 0, failed: 0, ops: [], errors: [] });
    const server = await m.serve({ address: '127.0.0.1', port: 0 });
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain('anyturn_agent_relays_healthy{pop="pop1"} 1');
      expect(text).toContain('anyturn_agent_relay_up{relay="r2",pop="pop1"} 0');
      expect(text).toContain('anyturn_agent_reconcile_runs_total{pop="pop1"} 2');
      expect(text).toContain('anyturn_agent_reconcile_changes_total{pop="pop1"} 7');
      expect(text).toContain('anyturn_agent_reconcile_failures_total{pop="pop1"} 1');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
