import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { Method } from '../../../src/stun/index.js';
import type { TurnServer } from '../../../relay/turn/turn-server.js';
import { FakeTransport, request, unitServer } from '../../unit/relay/turn/fakes.js';

/**
 * Heap cost of an idle allocation (goal: <= 4 KB, the kernel socket not counted): N allocations made through
 * the real request path (Allocate with relayed dgram sockets), retransmit cache emptied, then heap delta / N.
 */
const N = 2000;

describe('idle allocation memory', () => {
  let server: TurnServer | undefined;
  afterAll(() => server?.close());

  it(`costs under 4 KB of JS heap per idle allocation (${N} allocations)`, async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const u = unitServer({ capacity: N + 100, retransmitCacheSize: 1 });
    server = u.server;
    const t = new FakeTransport();
    // Requests are built before measuring; responses are not kept.
    const packets = Array.from({ length: N }, () => request(Method.Allocate, (w) => w.addRequestedTransport(17), { nonce: u.nonce }));
    t.sent.length = 0;
    t.send = () => {};
    // Warm up code paths and lazily created structures.
    for (let i = 0; i < 50; i++) server.handlePacket(t, request(Method.Allocate, (w) => w.addRequestedTransport(17), { nonce: u.nonce }), '198.51.100.200', 10000 + i);
    while (server.allocationCount < 50) await new Promise((resolve) => setImmediate(resolve));
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < N; i++) server.handlePacket(t, packets[i], '198.51.100.1', 20000 + i);
    const deadline = Date.now() + 20_000;
    while (server.allocationCount < N + 50 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(server.allocationCount).toBe(N + 50);
    packets.length = 0;
    gc();
    gc();
    const perAllocation = (process.memoryUsage().heapUsed - before) / N;
    console.log(`idle allocation heap cost: ${Math.round(perAllocation)} bytes`);
    expect(perAllocation).toBeLessThan(4096);
  }, 60_000);
});
