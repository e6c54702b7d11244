/**
 * Proof: relays started with `--redis` appear in `anyturn status --redis URL --json` within a few seconds, with
 * their addresses, capacity, load and allocations; the allocation count follows real Allocates (and deletions);
 * draining and full show as states; a relay that stops cleanly leaves the registry at once, one that is killed
 * leaves it when its heartbeat TTL runs out.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TurnClient } from '../../support/turn-client.js';
import {
  client, PASSWORD, startRedis, startRelay, status, stopAll, USER, waitFor, type RedisServer, type StatusView, type TestRelay,
} from './helpers.js';

let redis: RedisServer;
const relays: TestRelay[] = [];
const clients: TurnClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const common = ['--redis', redis.url, '--user', `${USER}:${PASSWORD}`];
  relays.push(...(await Promise.all([
    startRelay('reg-a', [...common, '--capacity', '10']),
    startRelay('reg-b', [...common, '--capacity', '2']),
    startRelay('reg-c', [...common, '--capacity', '10'], { pop: 'pop2' }),
  ])));
}, 40_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await stopAll(relays);
  await redis?.cleanup();
});

const record = (view: StatusView, id: string) => view.relays.find((r) => r.id === id);

/** Polls `anyturn status` until `check` accepts the view. */
function statusUntil(what: string, check: (view: StatusView) => boolean, timeoutMs = 8000): Promise<StatusView> {
  return waitFor(what, async () => {
    const view = await status(redis.url);
    return check(view) ? view : undefined;
  }, timeoutMs, 100);
}

describe('relay registry through anyturn status', () => {
  it('lists every relay with its PoP, unicast addresses, capacity and zero allocations within a few seconds', async () => {
    const t0 = Date.now();
    const view = await statusUntil('three relays', (v) => v.relays.length === 3);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(view.connection).toBe('up');
    const [a, b, c] = relays;
    expect(record(view, 'reg-a')).toMatchObject({
      pop: 'pop1', state: 'active', capacity: 10, allocations: 0,
      addresses: [{ transport: 'udp', family: 4, address: '127.0.0.1', port: a.port }],
    });
    expect(record(view, 'reg-b')).toMatchObject({ pop: 'pop1', capacity: 2, addresses: [{ transport: 'udp', port: b.port }] });
    expect(record(view, 'reg-c')).toMatchObject({ pop: 'pop2', addresses: [{ transport: 'udp', port: c.port }] });
    expect(view.pops.map((p) => [p.pop, p.relays])).toEqual([['pop1', 2], ['pop2', 1]]);
    for (const r of view.relays) expect(r.ttlMs).toBeLessThanOrEqual(5000);
  });

  it('follows real Allocates: counts, load score, full at capacity, and deletions', async () => {
    const [a, b] = relays;
    for (let i = 0; i < 3; i++) {
      const c = await client(a, USER, PASSWORD);
      clients.push(c);
      await c.allocate();
    }
    for (let i = 0; i < 2; i++) {
      const c = await client(b, USER, PASSWORD);
      clients.push(c);
      await c.allocate();
    }
    const view = await statusUntil('allocations 3 on reg-a and 2 on reg-b', (v) =>
      record(v, 'reg-a')?.allocations === 3 && record(v, 'reg-b')?.allocations === 2);
    expect(record(view, 'reg-a')!.load).toBeGreaterThanOrEqual(0.3 - 1e-9);
    expect(record(view, 'reg-a')!.state).toBe('active');
    expect(record(view, 'reg-b')).toMatchObject({ state: 'full', load: 1 });
    expect(record(view, 'reg-c')!.allocations).toBe(0);
    expect(view.pops.find((p) => p.pop === 'pop1')!.allocations).toBe(5);

    // Refresh(0) deletes: the count goes down and reg-b is no longer full.
    await clients[0].refresh(0);
    await clients[3].refresh(0);
    const after = await statusUntil('allocations 2 on reg-a and 1 on reg-b', (v) =>
      record(v, 'reg-a')?.allocations === 2 && record(v, 'reg-b')?.allocations === 1);
    expect(record(after, 'reg-b')!.state).toBe('active');
  });

  it('reports draining (SIGUSR1) and active again (SIGUSR2)', async () => {
    const c = relays[2];
    c.process.proc.child.kill('SIGUSR1');
    await statusUntil('reg-c draining', (v) => record(v, 'reg-c')?.state === 'draining');
    c.process.proc.child.kill('SIGUSR2');
    await statusUntil('reg-c active', (v) => record(v, 'reg-c')?.state === 'active');
  });

  it('drops a relay at once on a clean stop, and a killed one when its TTL runs out', async () => {
    const [a, , c] = relays;
    await c.process.stop(); // SIGTERM: deregisters
    const t0 = Date.now();
    await statusUntil('reg-c gone', (v) => record(v, 'reg-c') === undefined, 2000);
    expect(Date.now() - t0).toBeLessThan(2000);

    a.process.proc.child.kill('SIGKILL');
    const t1 = Date.now();
    const view = await statusUntil('reg-a gone after its TTL', (v) => record(v, 'reg-a') === undefined, 8000);
    const gone = Date.now() - t1;
    expect(gone).toBeLessThan(6000); // TTL 3 s
    expect(gone).toBeGreaterThanOrEqual(1000); // not deregistered: it expired
    expect(record(view, 'reg-b')).toBeDefined(); // the live one stays
  });
});
