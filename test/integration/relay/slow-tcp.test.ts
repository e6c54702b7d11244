/**
 * Slow and dripping TCP clients (issue 11 item 1) against a real `anyturn relay` process on loopback, from several
 * source addresses (127.0.1.x): connections that drip one byte at a time or send nothing are closed at the request
 * deadline (bytes are not progress), a source past --stream-max-per-source is refused at accept, and while the
 * attack lasts a real client still allocates over UDP and over TCP and /healthz answers. Partial 64 KiB frames
 * hold only the bytes that arrived, all of them within --stream-buffer-budget.
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Method, StunClass, StunWriter, newTransactionId } from '../../../src/stun/index.js';
import { waitFor } from '../../lab/netns.js';
import { TurnClient } from '../../support/turn-client.js';
import { freePorts, startRelayProcess, type RelayProcess } from './relay-process.js';

const REQUEST_TIMEOUT_MS = 4000;
const PER_SOURCE = 20;
const SOURCES = ['127.0.1.1', '127.0.1.2', '127.0.1.3', '127.0.1.4'];
const BUDGET = 256 * 1024;

interface Attacker {
  socket: net.Socket;
  source: string;
  openedAt: number;
  closedAt: number | undefined;
  closed: Promise<void>;
}

function connectFrom(source: string, port: number): Promise<Attacker> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: source });
    socket.on('error', () => {});
    let closedAt: number | undefined;
    const closed = new Promise<void>((r) => socket.once('close', () => {
      closedAt = Date.now();
      r();
    }));
    socket.once('connect', () => {
      const a: Attacker = { socket, source, openedAt: Date.now(), get closedAt() { return closedAt; }, closed };
      resolve(a);
    });
    socket.once('close', () => reject(new Error(`connection from ${source} closed before it connected`)));
  });
}

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

async function metric(metricsPort: number, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.slice(series.length + 1) ?? NaN);
}

describe('slow and dripping TCP clients', () => {
  let relay: RelayProcess;
  let port: number;
  let metricsPort: number;

  beforeAll(async () => {
    [port, metricsPort] = await freePorts(2);
    relay = await startRelayProcess([
      '--port', String(port), '--metrics', `127.0.0.1:${metricsPort}`, '--user', 'alice:secret', '--log-level', 'warn',
      '--stream-request-timeout', String(REQUEST_TIMEOUT_MS), '--stream-max-per-source', String(PER_SOURCE),
      '--stream-buffer-budget', String(BUDGET), '--min-port', '46000', '--max-port', '46999',
    ]);
  });

  afterAll(async () => {
    await relay?.stop();
  });

  it('closes drippers and silent connections at the deadline, refuses extras per source, and keeps serving', async () => {
    // 4 sources x 25 connections: 20 each are admitted, the other 5 are refused at accept.
    const attempts = SOURCES.flatMap((source) => Array.from({ length: PER_SOURCE + 5 }, () => source));
    const settled = await Promise.allSettled(attempts.map((source) => connectFrom(source, port)));
    const attackers = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    await waitFor('5 refusals per source', async () => (await metric(metricsPort, 'turn_stream_connections_refused_total{limit="per-source"}')) === 20 || undefined, 10_000, 50);
    await waitFor('the refused connections to close', () => attackers.filter((a) => a.closedAt !== undefined).length >= 20 || undefined, 10_000, 20);
    const admitted = attackers.filter((a) => a.closedAt === undefined);
    expect(admitted).toHaveLength(SOURCES.length * PER_SOURCE);
    for (const source of SOURCES) expect(admitted.filter((a) => a.source === source)).toHaveLength(PER_SOURCE);

    // Half of them drip a 1 KiB Binding request, one byte every 100 ms (it would take 100 s); the others send nothing.
    const request = new StunWriter().reset(Method.Binding, StunClass.Request, newTransactionId()).addBytes(0x8022, Buffer.alloc(1000, 0x61)).toBuffer();
    const drippers = admitted.filter((_, i) => i % 2 === 0);
    const timers = drippers.map((a) => {
      let i = 0;
      const t = setInterval(() => {
        if (a.closedAt !== undefined) return;
        a.socket.write(request.subarray(i, i + 1));
        i += 1;
      }, 100);
      return t;
    });
    try {
      // While the attack lasts: /healthz, a UDP allocation and a TCP allocation from another source.
      const health = await fetch(`http://127.0.0.1:${metricsPort}/healthz`);
      expect(health.status).toBe(200);
      const udp = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username: 'alice', password: 'secret', rtoMs: 100 });
      const tcp = await TurnClient.connect({ server: { address: '127.0.0.1', port }, transport: 'tcp', localAddress: '127.0.2.1', username: 'alice', password: 'secret' });
      try {
        expect((await udp.allocate()).relayed[0].port).toBeGreaterThanOrEqual(46000);
        expect((await tcp.allocate()).relayed[0].port).toBeGreaterThanOrEqual(46000);
      } finally {
        await udp.close();
        await tcp.close();
      }
      expect(admitted.every((a) => a.closedAt === undefined)).toBe(true); // served while every attacker was still open

      // Every one is closed by the deadline, dripping or not; the relay says why.
      await Promise.all(admitted.map((a) => a.closed));
      for (const a of admitted) expect(a.closedAt! - a.openedAt).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 200);
      await waitFor('80 timeouts counted', async () => (await metric(metricsPort, 'turn_stream_connections_closed_total{protocol="tcp",reason="timeout"}')) === 80 || undefined, 5000, 50);
    } finally {
      for (const t of timers) clearInterval(t);
    }
    // A source whose connections were closed is admitted again.
    const again = await connectFrom(SOURCES[0], port);
    again.socket.destroy();
  });

  it('partial 64 KiB frames hold only what arrived, within --stream-buffer-budget', async () => {
    const rssBefore = rssBytes(relay.proc.child.pid!);
    const header = Buffer.from([0x40, 0x01, 0xff, 0xff]); // ChannelData announcing 65535 bytes
    const conns = await Promise.all(SOURCES.slice(0, 2).flatMap((source) => Array.from({ length: PER_SOURCE }, () => connectFrom(source, port))));
    // Each sends the header and 100 bytes: 2 KiB held each (not 64 KiB), 40 x 2 KiB = 80 KiB < 256 KiB.
    for (const c of conns) c.socket.write(Buffer.concat([header, Buffer.alloc(100)]));
    await waitFor('40 partial frames held', async () => (await metric(metricsPort, 'turn_stream_buffered_bytes')) === 40 * 2048 || undefined, 5000, 20);
    // Then 10 KiB more each: past the budget for some, which are closed ('overload'); the total never passes it.
    for (const c of conns) c.socket.write(Buffer.alloc(10 * 1024));
    await waitFor('overload closes', async () => (await metric(metricsPort, 'turn_stream_connections_closed_total{protocol="tcp",reason="overload"}')) > 0 || undefined, 5000, 20);
    const held = await metric(metricsPort, 'turn_stream_buffered_bytes');
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThanOrEqual(BUDGET);
    expect(rssBytes(relay.proc.child.pid!) - rssBefore).toBeLessThan(32 * 1024 * 1024);
    // The rest end at the deadline, and the budget is whole again.
    await Promise.all(conns.map((c) => c.closed));
    await waitFor('nothing held', async () => (await metric(metricsPort, 'turn_stream_buffered_bytes')) === 0 || undefined, 5000, 20);
  });
});
