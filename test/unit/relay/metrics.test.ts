import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DROP_REASONS, RelayMetrics } from '../../../relay/metrics.js';

describe('RelayMetrics', () => {
  it('exposes coturn-style names, fixed label sets, and the hot-path counters at scrape time', async () => {
    const registry = new Registry();
    const m = new RelayMetrics(registry);
    m.clientReceivedPackets += 3;
    m.clientReceivedBytes += 300;
    m.peerSentPackets += 2;
    m.drop('bandwidth');
    m.drop('bandwidth');
    m.response(401);
    m.response('success');
    m.response(999);
    m.allocateError(508);
    m.allocateError(401); // challenges are not errors
    m.allocationCreated(1);
    m.allocationCreated(2);
    m.allocationClosed('expired', 1);
    m.retransmit();
    const text = await registry.metrics();
    expect(text).toMatch(/^turn_total_allocations 1$/m);
    expect(text).toMatch(/^turn_allocations_created_total 2$/m);
    expect(text).toMatch(/^turn_allocations_closed_total\{reason="expired"\} 1$/m);
    expect(text).toMatch(/^turn_traffic_client_received_packets_total 3$/m);
    expect(text).toMatch(/^turn_traffic_client_received_bytes_total 300$/m);
    expect(text).toMatch(/^turn_traffic_peer_sent_packets_total 2$/m);
    expect(text).toMatch(/^turn_packets_dropped_total\{reason="bandwidth"\} 2$/m);
    expect(text).toMatch(/^stun_unauthorized_total 1$/m);
    expect(text).toMatch(/^stun_responses_total\{code="success"\} 1$/m);
    expect(text).toMatch(/^stun_responses_total\{code="other"\} 1$/m);
    expect(text).toMatch(/^turn_allocate_errors_total\{code="508"\} 1$/m);
    expect(text).not.toMatch(/turn_allocate_errors_total\{code="401"\} [1-9]/);
    expect(text).toMatch(/^stun_retransmits_total 1$/m);
    // Every drop reason is present from the start (fixed label set), nothing per IP.
    for (const r of DROP_REASONS) expect(text).toContain(`turn_packets_dropped_total{reason="${r}"}`);
    expect(text).not.toMatch(/\d+\.\d+\.\d+\.\d+/);
    // Scraping twice does not double count.
    expect(await registry.metrics()).toBe(text);
  });
});
