/**
 * Proof (issue 3): the race follows real load. Relays hold 300, 0 and 100 live allocations (capacity 1000);
 * new allocations through G must land on the least-loaded relay (>= 95 %). A draining relay (SIGUSR1) never
 * wins, and its existing allocations carry on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../lab/netns.js';
import { AnycastLab, countBy, metricValue } from './anycast-lab.js';

describe('anycast: the race follows load', () => {
  let lab: AnycastLab;

  beforeAll(async () => {
    lab = await AnycastLab.start({
      relayArgs: ['--race-curve', 'linear', '--race-max-delay', '200', '--anycast-rate', '1000'],
    });
    // real load, made by a second client directly on the unicast addresses
    const loader = lab.clients[1];
    expect(await loader.hold(lab.relay(0).relay.address, 300)).toMatchObject({ ok: 300, failed: 0 });
    expect(await loader.hold(lab.relay(2).relay.address, 100)).toMatchObject({ ok: 100, failed: 0 });
    await lab.waitRaceOrder([1, 2, 0]); // the race group has taken in the load
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('the relays report the load scores 0.3, 0 and 0.1', async () => {
    const scores: number[] = [];
    for (let i = 0; i < 3; i++) scores.push(metricValue(await lab.metrics(i), 'anyturn_load_score') ?? -1);
    expect(scores[0]).toBeCloseTo(0.3, 1);
    expect(scores[1]).toBeLessThan(0.05);
    expect(scores[2]).toBeCloseTo(0.1, 1);
  });

  it('>= 95% of new allocations land on the least-loaded relay', async () => {
    // each allocation is released after it succeeded, so the loads stay 300 / 0 / 100
    const results = await lab.clients[0].allocate(lab.g, { count: 200, concurrency: 4 });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    const byRelay = countBy(results, (r) => String(lab.relayIndexOf(r.alternate)));
    console.log('race: allocations per relay (0: 300 live, 1: 0 live, 2: 100 live)', Object.fromEntries(byRelay));
    for (let i = 0; i < 3; i++) {
      const text = await lab.metrics(i);
      const pick = (names: string[]) => names.map((n) => `${n}=${metricValue(text, n)}`).join(' ');
      console.log(`race: relay ${i}`, pick([
        'anyturn_load_score', 'anyturn_race_group_peers', 'anyturn_race_group_messages_total{event="presence-received"}',
        'anyturn_race_group_messages_total{event="claim-received"}', 'anyturn_anycast_answers_total{kind="300"}',
        'anyturn_anycast_answers_total{kind="silent-claimed"}', 'anyturn_load_component{component="lag"}',
        'anyturn_load_component{component="memory"}',
      ]));
    }
    expect((byRelay.get('1') ?? 0) / results.length).toBeGreaterThanOrEqual(0.95);
    // and the most loaded relay practically never wins
    expect((byRelay.get('0') ?? 0) / results.length).toBeLessThanOrEqual(0.02);
  });

  it('a draining relay (SIGUSR1) never wins; its allocations carry on', async () => {
    lab.relay(0).proc.child.kill('SIGUSR1');
    lab.relay(1).proc.child.kill('SIGUSR1');
    for (const i of [0, 1]) {
      await waitFor(`relay ${i} draining`, async () =>
        metricValue(await lab.metrics(i), 'anyturn_anycast_draining') === 1 ? true : undefined, 5_000, 50);
    }
    const results = await lab.clients[0].allocate(lab.g, { count: 60, concurrency: 4 });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(results.every((r) => lab.relayIndexOf(r.alternate) === 2)).toBe(true);
    // the 300 allocations held on the draining relay 0 are still there
    expect(metricValue(await lab.metrics(0), 'turn_total_allocations')).toBe(300);
    expect(metricValue(await lab.metrics(0), 'anyturn_anycast_answers_total{kind="silent-draining"}')).toBeGreaterThan(0);
  });
});
