/**
 * `node dist/test/bench/overlay-hop.js`: what the overlay adds per hop, on loopback in one process.
 *
 *   direct   a datagram from one UDP socket to another (the public hop between two relays' relayed sockets)
 *   overlay  OverlayNode A.forward() → A's overlay socket → B's overlay socket → decode, MAC, dedup, delivery to
 *            B's data path (a stub that records the time)
 *
 * Latency: one packet at a time (the next one leaves when the last arrived), one-way time from the send call to the
 * delivery, p50/p99 over 20 000 packets after 2 000 of warm-up. Throughput: bursts of 64 as fast as the receiver
 * keeps up for 2 s; packets delivered per second of process CPU (both ends run in this process, so that is the cost
 * of one hop, send and receive, per core). Payload 160 bytes (an Opus frame with headers).
 */
import dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { Registry } from 'prom-client';
import { MemoryClusterBackend, MemoryClusterStore } from '../../src/cluster/memory-store.js';
import { silentLogger } from '../../src/log.js';
import { OverlayNode } from '../../relay/overlay/overlay-node.js';
import type { RelayedSocket } from '../../relay/turn/relayed-socket.js';
import type { TurnServer } from '../../relay/turn/turn-server.js';

const PAYLOAD = Buffer.alloc(160, 7);
const clock = { now: () => Date.now() };
const nowNs = (): bigint => process.hrtime.bigint();

interface Hop {
  send(): void;
  onDelivered: (() => void) | undefined;
  close(): Promise<void>;
}

async function directHop(): Promise<Hop> {
  const a = dgram.createSocket('udp4');
  const b = dgram.createSocket('udp4');
  await new Promise<void>((r) => a.bind(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => b.bind(0, '127.0.0.1', () => r()));
  const port = b.address().port;
  const hop: Hop = {
    send: () => a.send(PAYLOAD, port, '127.0.0.1'),
    onDelivered: undefined,
    close: async () => {
      a.close();
      b.close();
    },
  };
  b.on('message', () => hop.onDelivered?.());
  return hop;
}

/** A relayed socket as the overlay sees it (no kernel socket needed on either side). */
function fakeRelay(port: number, username: string): RelayedSocket {
  return { family: 4, address: '127.0.0.1', advertisedAddress: '127.0.0.1', port, closed: false, allocation: { username, relays: [] } } as unknown as RelayedSocket;
}

async function overlayHop(): Promise<Hop> {
  const backend = new MemoryClusterBackend();
  const nodes: OverlayNode[] = [];
  const stores: MemoryClusterStore[] = [];
  const hop: Hop = { send: () => {}, onDelivered: undefined, close: async () => {} };
  const destination = fakeRelay(42000, 'bob');
  for (const [id, min, max] of [['a', 41000, 41999], ['b', 42000, 42999]] as const) {
    const store = new MemoryClusterStore({ backend, clock });
    stores.push(store);
    const node = new OverlayNode(
      { id, addresses: [{ address: '127.0.0.1', port: 0 }], duplicate: [], relayed: { addresses: ['127.0.0.1'], minPort: min, maxPort: max } },
      { store, registry: new Registry(), clock, log: silentLogger() },
    );
    await node.start();
    nodes.push(node);
    // The receiving end's data path: records the delivery.
    const turn = {
      on: (event: string, fn: (a: unknown) => void) => {
        if (event === 'allocation' && id === 'b') fn({ relays: [destination] });
      },
      off: () => {},
      allocations: () => [][Symbol.iterator](),
      dataPath: { fromPeer: (_r: RelayedSocket, _m: Buffer, _i: RemoteInfo) => hop.onDelivered?.() },
    };
    node.attach(turn as unknown as TurnServer);
  }
  await stores[0].addOverlayKey('bench-overlay-key-0123456789abcdef');
  for (const [i, node] of nodes.entries()) {
    await stores[i].heartbeat({
      id: i === 0 ? 'a' : 'b', pop: 'p', addresses: [], capacity: 1, allocations: 0, load: 0, bandwidthBps: 0, state: 'active',
      overlay: node.report(),
    }, 600_000);
  }
  const [a] = nodes;
  const source = fakeRelay(41000, 'alice');
  // Wait until A has heard B's probe (path up).
  for (let i = 0; i < 200 && !a.report().paths.some((p) => p.up); i++) await new Promise((r) => setTimeout(r, 20));
  hop.send = () => {
    if (!a.forward(source, '127.0.0.1', 42000, PAYLOAD)) throw new Error('overlay path not up');
  };
  hop.close = async () => {
    for (const n of nodes) n.close();
    for (const s of stores) await s.close();
  };
  return hop;
}

async function latency(hop: Hop, count: number, warmup: number): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t0 = nowNs();
    await new Promise<void>((resolve) => {
      hop.onDelivered = () => {
        if (i >= warmup) samples.push(Number(nowNs() - t0) / 1000);
        resolve();
      };
      hop.send();
    });
  }
  samples.sort((x, y) => x - y);
  return { p50: samples[Math.floor(samples.length * 0.5)], p99: samples[Math.floor(samples.length * 0.99)] };
}

async function throughput(hop: Hop, seconds: number): Promise<{ pps: number; perCpuSecond: number }> {
  let delivered = 0;
  let inFlight = 0;
  hop.onDelivered = () => {
    delivered += 1;
    inFlight -= 1;
  };
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  while (Date.now() - t0 < seconds * 1000) {
    if (inFlight < 256) {
      for (let k = 0; k < 64; k++) hop.send();
      inFlight += 64;
    }
    await new Promise((r) => setImmediate(r));
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = (Date.now() - t0) / 1000;
  return { pps: Math.round(delivered / wall), perCpuSecond: Math.round(delivered / ((cpu.user + cpu.system) / 1e6)) };
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const [name, make] of [['direct UDP hop', directHop], ['overlay hop', overlayHop]] as const) {
    const hop = await make();
    const lat = await latency(hop, 20_000, 2_000);
    const tput = await throughput(hop, 2);
    rows.push(`| ${name} | ${lat.p50.toFixed(1)} | ${lat.p99.toFixed(1)} | ${tput.pps} | ${tput.perCpuSecond} |`);
    await hop.close();
  }
  process.stdout.write(['| hop | one-way p50 (µs) | p99 (µs) | delivered/s | delivered per CPU second |', '| --- | --- | --- | --- | --- |', ...rows].join('\n') + '\n');
}

await main();
