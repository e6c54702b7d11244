import { createSocket, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayHealth, type RelayHealthState, type RelayStatus } from '../../../router-agent/health.js';
import { silentLogger } from '../../../src/log.js';
import { Attr, decodeStun, isStunMessage, Method, StunClass, StunWriter } from '../../../src/stun/index.js';
import { waitFor } from '../../lab/netns.js';

/** A Binding responder on 127.0.0.1:<random>; `mode` decides what it does with a request. */
async function responder(mode: { current: 'answer' | 'silent' | 'wrong-tid' }): Promise<{ socket: Socket; port: number }> {
  const socket = createSocket('udp4');
  const writer = new StunWriter();
  socket.on('message', (msg, rinfo) => {
    const m = decodeStun(msg);
    if (!isStunMessage(m) || m.method !== Method.Binding || mode.current === 'silent') return;
    const tid = mode.current === 'wrong-tid' ? Buffer.alloc(12, 7) : m.transactionId;
    const reply = writer.reset(Method.Binding, StunClass.SuccessResponse, tid)
      .addXorAddress(Attr.XOR_MAPPED_ADDRESS, { family: 4, address: rinfo.address, port: rinfo.port }).view();
    socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return { socket, port: (socket.address() as AddressInfo).port };
}

const open: { close(): void }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

describe('RelayHealth', () => {
  it('marks an answering relay healthy and a silent one unhealthy after N failures, with events', async () => {
    const mode = { current: 'answer' as 'answer' | 'silent' | 'wrong-tid' };
    const r = await responder(mode);
    open.push(r.socket);
    const health = new RelayHealth([{ id: 'r1', address: '127.0.0.1', port: r.port }],
      { intervalMs: 20, timeoutMs: 15, failures: 3, rise: 1 }, { log: silentLogger() });
    open.push(health);
    const changes: [string, RelayHealthState, RelayHealthState][] = [];
    health.on('change', (s: RelayStatus, prev) => changes.push([s.id, prev, s.state]));
    expect(health.statuses()[0].state).toBe('unknown');
    health.start();
    await waitFor('healthy', () => health.healthyIds().has('r1') || undefined, 5_000, 5);
    expect(health.statuses()[0].rttMs).toBeGreaterThanOrEqual(0);

    mode.current = 'silent';
    await waitFor('unhealthy', () => health.statuses()[0].state === 'unhealthy' || undefined, 5_000, 5);
    expect(health.statuses()[0].consecutiveFailures).toBeGreaterThanOrEqual(3);
    mode.current = 'answer';
    await waitFor('healthy again', () => health.statuses()[0].state === 'healthy' || undefined, 5_000, 5);
    expect(changes).toEqual([['r1', 'unknown', 'healthy'], ['r1', 'healthy', 'unhealthy'], ['r1', 'unhealthy', 'healthy']]);
  });

  it('settle() decides every relay without the timer: answered, wrong transaction id, nobody there', async () => {
    const good = await responder({ current: 'answer' });
    const liar = await responder({ current: 'wrong-tid' });
    open.push(good.socket, liar.socket);
    const gone = await responder({ current: 'answer' });
    gone.socket.close();
    const health = new RelayHealth([
      { id: 'good', address: '127.0.0.1', port: good.port },
      { id: 'liar', address: '127.0.0.1', port: liar.port },
      { id: 'gone', address: '127.0.0.1', port: gone.port },
    ], { intervalMs: 1000, timeoutMs: 30, failures: 2, rise: 1 }, { log: silentLogger() });
    open.push(health);
    await health.settle();
    expect(health.statuses().map((s) => [s.id, s.state])).toEqual([['good', 'healthy'], ['liar', 'unhealthy'], ['gone', 'unhealthy']]);
    expect([...health.healthyIds()]).toEqual(['good']);
  });

  it('close() is idempotent and stops probing', async () => {
    const gone = await responder({ current: 'silent' });
    gone.socket.close();
    const health = new RelayHealth([{ id: 'r1', address: '127.0.0.1', port: gone.port }],
      { intervalMs: 10, timeoutMs: 5, failures: 1, rise: 1 }, { log: silentLogger() });
    health.start();
    health.close();
    health.close();
    expect(health.closed).toBe(true);
    await health.probeRound();
    expect(health.statuses()[0].state).toBe('unknown');
  });
});
