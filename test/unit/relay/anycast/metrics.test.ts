import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DrainState } from '../../../../relay/anycast/drain.js';
import { ANSWER_KINDS, AnycastMetrics, registerAnycastMetrics } from '../../../../relay/anycast/metrics.js';

describe('anycast metrics', () => {
  it('exports answers by kind, bytes, the load score and its components, draining and pending', async () => {
    const registry = new Registry();
    const metrics = new AnycastMetrics();
    const drain = new DrainState();
    let score = 0.25;
    registerAnycastMetrics(registry, {
      metrics,
      drain,
      load: { score: () => score, components: () => ({ allocations: 0.25, bandwidth: 0.1, lag: 0, memory: 0.05 }) },
      pending: () => 3,
    });
    metrics.count('300');
    metrics.count('300');
    metrics.count('dropped-rate-limit');
    metrics.bytesIn = 280;
    metrics.bytesOut = 96;
    drain.drain();
    let text = await registry.metrics();
    expect(text).toContain('anyturn_anycast_answers_total{kind="300"} 2');
    expect(text).toContain('anyturn_anycast_answers_total{kind="dropped-rate-limit"} 1');
    expect(text).toContain('anyturn_anycast_answers_total{kind="silent-full"} 0');
    expect(text).toContain('anyturn_anycast_bytes_total{direction="in"} 280');
    expect(text).toContain('anyturn_anycast_bytes_total{direction="out"} 96');
    expect(text).toContain('anyturn_load_score 0.25');
    expect(text).toContain('anyturn_load_component{component="bandwidth"} 0.1');
    expect(text).toContain('anyturn_load_component{component="memory"} 0.05');
    expect(text).toContain('anyturn_anycast_draining 1');
    expect(text).toContain('anyturn_anycast_pending 3');
    score = 1;
    metrics.count('300');
    text = await registry.metrics();
    expect(text).toContain('anyturn_load_score 1');
    expect(text).toContain('anyturn_anycast_answers_total{kind="300"} 3');
    expect(Object.keys(metrics.snapshot()).sort()).toEqual([...ANSWER_KINDS].sort());
    expect(metrics.snapshot()["300"]).toBe(3);
  });
});
