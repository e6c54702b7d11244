/**
 * A relay with the kernel fast path is SIGKILLed (no clean-up code runs) and started again: the old flow is relayed
 * by nobody, in either direction, and the restarted relay offloads new bindings from a clean state. Daemon on the
 * host's loopback, TURN client and peer in this process.
 *
 * No entry of a dead relay can survive it: the program, its tcx links and its maps belong to the process's file
 * descriptors (nothing is pinned), so the kernel detaches and frees them when the process dies.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportAddress } from '../../../src/stun/index.js';
import { TurnClient } from '../../support/turn-client.js';
import { waitFor } from '../../lab/netns.js';
import { freePorts, startRelayProcess, type RelayProcess } from '../relay/relay-process.js';
import { nextData, startPeer, type Peer } from '../turn/relay-fixture.js';

const CHANNEL = 0x4000;
let port: number;
let metricsPort: number;
let relay: RelayProcess | undefined;
let peer: Peer;
let client: TurnClient;

function args(): string[] {
  return [
    '--listen', '127.0.0.1', '--port', String(port), '--no-tcp', '--metrics', `127.0.0.1:${metricsPort}`,
    '--user', 'alice:secret-a', '--realm', 'offload.test', '--allow-peer', '127.0.0.0/8', '--offload', 'on',
    '--min-port', '47000', '--max-port', '47999', '--log-level', 'warn',
  ];
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(' ')[1]);
}

/** Allocates, binds a channel to the peer and checks that the kernel carries both directions (Node sees none). */
async function bindAndCheckKernel(): Promise<TransportAddress> {
  const userspace = await metric('turn_userspace_channel_data_total');
  const before = await metric('turn_offload_packets_total{direction="client-to-peer"}');
  const { relayed } = await client.allocate();
  await client.channelBind(CHANNEL, peer.address);
  client.sendChannelData(CHANNEL, Buffer.from('to-peer'));
  expect((await peer.next()).data.toString()).toBe('to-peer');
  const toClient = nextData(client);
  peer.send(Buffer.from('to-client'), relayed[0]);
  expect((await toClient).channel).toBe(CHANNEL);
  await waitFor('the kernel to have carried both', async () =>
    (await metric('turn_offload_packets_total{direction="client-to-peer"}')) > before &&
    (await metric('turn_offload_packets_total{direction="peer-to-client"}')) >= 1 || undefined, 5000, 100);
  expect(await metric('turn_userspace_channel_data_total')).toBe(userspace);
  return relayed[0];
}

beforeAll(async () => {
  [port, metricsPort] = await freePorts(2);
  relay = await startRelayProcess(args(), { name: 'anyturn (offload, restart)' });
  peer = await startPeer();
  client = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username: 'alice', password: 'secret-a', rtoMs: 100 });
});

afterAll(async () => {
  await client?.close();
  await peer?.close();
  await relay?.stop();
});

describe('kernel fast path across SIGKILL and restart', () => {
  it('relays nothing of the old flow after the relay is killed and restarted, and offloads anew', async () => {
    const relayed = await bindAndCheckKernel();
    const got: Buffer[] = [];
    let listening = true;
    client.on('data', (_p, data) => {
      if (listening) got.push(Buffer.from(data));
    });

    await relay!.proc.stop('SIGKILL');
    relay = undefined;
    // Peer → old relayed address: a plain socket now bound there receives the datagram as sent.
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(relayed.port, relayed.address, resolve));
    try {
      const arrived = new Promise<Buffer>((resolve) => sink.once('message', resolve));
      peer.send(Buffer.from('after-kill'), relayed);
      expect((await arrived).toString()).toBe('after-kill');
    } finally {
      await new Promise<void>((resolve) => sink.close(resolve));
    }

    relay = await startRelayProcess(args(), { name: 'anyturn (offload, restarted)' });
    // Client → old channel: the new relay's Node receives the ChannelData (no allocation: dropped).
    client.sendChannelData(CHANNEL, Buffer.from('after-restart'));
    await waitFor('the restarted relay to see the ChannelData', async () => (await metric('turn_userspace_channel_data_total')) >= 1 || undefined, 5000, 50);
    expect(await metric('turn_packets_dropped_total{reason="no-allocation"}')).toBeGreaterThanOrEqual(1);
    await client.binding();
    expect(peer.received).toEqual([]);
    expect(got).toEqual([]);
    expect(await metric('turn_offload_flows')).toBe(0);

    // The same client allocates again: the restarted relay's kernel carries the new binding.
    listening = false;
    client.channels.clear();
    await bindAndCheckKernel();
  });
});
