/**
 * Proof (issue 3): kill one relay mid-run. Relays 0 and 2 carry load (300, 400 of 1000) so that relay 1 wins the
 * races; relay 1 is killed (SIGKILL) while 8 allocations are in flight. A dead relay simply never wins again: no
 * Allocate fails once the client has retransmitted (here: started again at G after the relay named by the 300
 * stopped answering; how many flows had to do that depends on where they were at the kill, and is logged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../lab/netns.js';
import { AnycastLab, countBy, metricValue } from './anycast-lab.js';

describe('anycast: a relay dies mid-run', () => {
  let lab: AnycastLab;

  beforeAll(async () => {
    lab = await AnycastLab.start({
      relayArgs: ['--race-curve', 'linear', '--race-max-delay', '200', '--anycast-rate', '5000'],
    });
    expect(await lab.clients[1].hold(lab.relay(0).relay.address, 300)).toMatchObject({ ok: 300, failed: 0 });
    expect(await lab.clients[1].hold(lab.relay(2).relay.address, 400)).toMatchObject({ ok: 400, failed: 0 });
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('no Allocate fails after the retransmit, and the dead relay never wins again', async () => {
    const run = lab.clients[0].allocate(lab.g, { count: 600, concurrency: 8 });
    // kill relay 1 once it has won a good number of races (a real signal, not a sleep)
    await waitFor('relay 1 to have made 100 allocations', async () => {
      const text = await lab.metrics(1);
      return (metricValue(text, 'turn_allocations_created_total') ?? 0) >= 100 ? true : undefined;
    }, 30_000, 20);
    await lab.kill(1);
    const results = await run;

    const failed = results.filter((r) => !r.ok);
    expect(failed).toEqual([]);
    const byRelay = countBy(results, (r) => String(lab.relayIndexOf(r.alternate)));
    const restarts = results.reduce((n, r) => n + r.restarts, 0);
    console.log('kill: allocations per relay', Object.fromEntries(byRelay), 'restarts at G', restarts);
    expect(byRelay.get('1') ?? 0).toBeGreaterThanOrEqual(50);
    expect((byRelay.get('0') ?? 0) + (byRelay.get('2') ?? 0)).toBeGreaterThan(0);

    // after the death: every new allocation goes to a survivor, the less loaded one first
    const after = await lab.clients[0].allocate(lab.g, { count: 50, concurrency: 2 });
    expect(after.filter((r) => !r.ok)).toEqual([]);
    expect(after.every((r) => lab.relayIndexOf(r.alternate) !== 1)).toBe(true);
    expect(after.filter((r) => lab.relayIndexOf(r.alternate) === 0).length).toBeGreaterThanOrEqual(45);
  });
});
