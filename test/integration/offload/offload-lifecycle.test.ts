/**
 * The kernel fast path follows the TURN state (RFC 8656 lifetimes) and never relays what the control plane would
 * refuse. In-process relay on the host's loopback with the eBPF program attached (offload-fixture.ts).
 *
 * How "not delivered" is proven without waiting for silence: the program either relays a datagram or passes it up
 * unchanged, never both. So when Node's own counters show that the datagram reached Node (a ChannelData message
 * counted by turn_userspace_channel_data_total, a peer datagram read on the relayed socket) or a plain socket
 * bound to the old relayed port receives it, the kernel did not relay it; Node's verdict (drop) is then checked.
 */
import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TransportAddress } from '../../../src/stun/index.js';
import type { TurnClient } from '../../support/turn-client.js';
import { waitFor } from '../../lab/netns.js';
import { nextData, startPeer, type Peer } from '../turn/relay-fixture.js';
import { startOffloadedRelay, type OffloadedRelay } from './offload-fixture.js';

const CHANNEL = 0x4000;

interface Bound {
  client: TurnClient;
  relayed: TransportAddress;
  /** What the client received from the relay as data (ChannelData or Data indications). */
  got: Buffer[];
}

async function bind(relay: OffloadedRelay, peer: Peer): Promise<Bound> {
  const client = await relay.client();
  const { relayed } = await client.allocate({ family: peer.address.family });
  await client.channelBind(CHANNEL, peer.address);
  const got: Buffer[] = [];
  client.on('data', (_p, data) => got.push(Buffer.from(data)));
  return { client, relayed: relayed[0], got };
}

/** Sends ChannelData and waits until Node has handled it (so the kernel did not relay it). */
async function sendSeenByNode(relay: OffloadedRelay, send: () => void): Promise<void> {
  const before = relay.metrics.userspaceChannelData;
  send();
  await waitFor('Node to receive the ChannelData', () => relay.metrics.userspaceChannelData > before, 3000, 5);
}

/** The kernel carries the binding: one datagram each way arrives and Node's UDP listener saw no ChannelData. */
async function expectKernelCarries(relay: OffloadedRelay, b: Bound, peer: Peer): Promise<void> {
  const userspace = relay.metrics.userspaceChannelData;
  const before = { c2p: relay.offloadMetrics.clientToPeerPackets, p2c: relay.offloadMetrics.peerToClientPackets };
  b.client.sendChannelData(CHANNEL, Buffer.from('to-peer'));
  const atPeer = await peer.next();
  expect(atPeer.data.toString()).toBe('to-peer');
  expect(atPeer.from).toEqual(b.relayed);
  const toClient = nextData(b.client);
  peer.send(Buffer.from('to-client'), b.relayed);
  const data = await toClient;
  expect(data.via).toBe('channel');
  expect(data.channel).toBe(CHANNEL);
  expect(data.data.toString()).toBe('to-client');
  b.got.length = 0;
  relay.offload.collect();
  expect(relay.offloadMetrics.clientToPeerPackets - before.c2p).toBe(1);
  expect(relay.offloadMetrics.peerToClientPackets - before.p2c).toBe(1);
  expect(relay.metrics.userspaceChannelData).toBe(userspace);
}

describe('kernel fast path: state changes (real clock)', () => {
  let relay: OffloadedRelay;
  let peer: Peer;
  beforeAll(async () => {
    relay = await startOffloadedRelay();
    peer = await startPeer();
  });
  afterAll(async () => {
    await relay?.close();
    await peer?.close();
  });
  afterEach(() => {
    peer.received.length = 0;
  });

  it('relays a bound channel in both directions in the kernel, counted into turn_traffic_*', async () => {
    const b = await bind(relay, peer);
    expect(relay.offloadMetrics.flows).toBe(1);
    const traffic = { in: relay.metrics.clientReceivedPackets, out: relay.metrics.peerSentPackets };
    for (let i = 0; i < 5; i++) await expectKernelCarries(relay, b, peer);
    expect(relay.metrics.clientReceivedPackets - traffic.in).toBe(5);
    expect(relay.metrics.peerSentPackets - traffic.out).toBe(5);
    await b.client.refresh(0);
    expect(relay.offloadMetrics.flows).toBe(0);
  });

  it('after Refresh 0 the old flow is relayed in neither direction', async () => {
    const b = await bind(relay, peer);
    await expectKernelCarries(relay, b, peer);
    await b.client.refresh(0);
    expect(relay.offloadMetrics.flows).toBe(0);
    // Client → peer: Node gets the ChannelData and drops it (no allocation).
    const drops = relay.metrics.userspaceChannelData;
    await sendSeenByNode(relay, () => b.client.sendChannelData(CHANNEL, Buffer.from('late')));
    expect(relay.metrics.userspaceChannelData).toBe(drops + 1);
    // Peer → client: a plain socket now on the old relayed port gets the datagram as sent.
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sink.bind(b.relayed.port, b.relayed.address, resolve));
    try {
      const arrived = new Promise<Buffer>((resolve) => sink.once('message', resolve));
      peer.send(Buffer.from('late-from-peer'), b.relayed);
      expect((await arrived).toString()).toBe('late-from-peer');
    } finally {
      sink.close();
    }
    await b.client.binding(); // a round trip after both: anything relayed would have arrived before its answer
    expect(peer.received).toEqual([]);
    expect(b.got).toEqual([]);
  });

  it('never forwards forged ChannelData (unknown channel, another source port) nor a peer without permission', async () => {
    const b = await bind(relay, peer);
    await expectKernelCarries(relay, b, peer);
    // An unknown channel number from the client's own 5-tuple.
    await sendSeenByNode(relay, () => b.client.sendChannelData(0x4001, Buffer.from('forged-channel')));
    // The bound channel number from another source port.
    const forger = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => forger.bind(0, '127.0.0.1', resolve));
    try {
      const cd = Buffer.alloc(4 + 6);
      cd.writeUInt16BE(CHANNEL, 0);
      cd.writeUInt16BE(6, 2);
      cd.write('forged', 4);
      await sendSeenByNode(relay, () => forger.send(cd, relay.address.port, relay.address.address));
    } finally {
      forger.close();
    }
    // A peer on an address without permission (127.0.0.2), to the relayed address: read by Node, dropped.
    const stranger = await startPeer('127.0.0.2');
    try {
      const readByNode = relay.metrics.peerReceivedPackets;
      stranger.send(Buffer.from('stranger'), b.relayed);
      await waitFor('Node to read the stranger datagram', () => relay.metrics.peerReceivedPackets > readByNode, 3000, 5);
    } finally {
      await stranger.close();
    }
    await b.client.binding();
    expect(peer.received).toEqual([]);
    expect(b.got).toEqual([]);
    await expectKernelCarries(relay, b, peer); // the real flow is untouched
  });
});

describe('kernel fast path: expiry', () => {
  let now = 1_800_000_000_000;
  const clock = { now: () => now };
  let relay: OffloadedRelay;
  let peer: Peer;
  beforeAll(async () => {
    // Manual clock: lifetimes pass when the test says; the sweep is run by hand.
    relay = await startOffloadedRelay({ channelLifetimeSeconds: 60, permissionLifetimeSeconds: 300 }, clock);
    peer = await startPeer();
  });
  afterAll(async () => {
    await relay?.close();
    await peer?.close();
  });
  afterEach(() => {
    peer.received.length = 0;
  });

  it('after the channel binding expires (permission still valid) the old flow is not relayed', async () => {
    const b = await bind(relay, peer);
    await expectKernelCarries(relay, b, peer);
    now += 61_000;
    relay.server.sweep();
    expect(relay.offloadMetrics.flows).toBe(0);
    await sendSeenByNode(relay, () => b.client.sendChannelData(CHANNEL, Buffer.from('late')));
    // The peer is still permitted: without a channel its datagram reaches the client as a Data indication from Node.
    const viaNode = nextData(b.client);
    peer.send(Buffer.from('after-channel'), b.relayed);
    expect((await viaNode).via).toBe('indication');
    expect(peer.received).toEqual([]);
    await b.client.refresh(0);
  });

  it('after the permission expires the old flow is not relayed, and a refresh brings the kernel back', async () => {
    const b = await bind(relay, peer);
    await expectKernelCarries(relay, b, peer);
    await b.client.channelBind(CHANNEL, peer.address); // refresh the channel: it outlives the permission below
    for (let i = 0; i < 6; i++) {
      now += 55_000;
      await b.client.channelBind(CHANNEL, peer.address);
    } // 330 s: the permission was refreshed by every ChannelBind, so still valid
    relay.server.sweep();
    await expectKernelCarries(relay, b, peer);
    await b.client.refresh(3600);
    now += 301_000; // channel (60 s) and permission (300 s) both lapse
    relay.server.sweep();
    expect(relay.offloadMetrics.flows).toBe(0);
    await sendSeenByNode(relay, () => b.client.sendChannelData(CHANNEL, Buffer.from('late')));
    const readByNode = relay.metrics.peerReceivedPackets;
    peer.send(Buffer.from('late-from-peer'), b.relayed);
    await waitFor('Node to read the peer datagram', () => relay.metrics.peerReceivedPackets > readByNode, 3000, 5);
    await b.client.binding();
    expect(peer.received).toEqual([]);
    expect(b.got).toEqual([]);
    // ChannelBind again: the kernel carries the flow once more.
    await b.client.channelBind(CHANNEL, peer.address);
    await expectKernelCarries(relay, b, peer);
    await b.client.refresh(0);
  });
});

describe('kernel fast path: the kernel stops at the deadline of the entry by itself', () => {
  let relay: OffloadedRelay;
  let peer: Peer;
  beforeAll(async () => {
    // 1 s permission, no sweep: only the expiry stored in the kernel entry can stop the flow.
    relay = await startOffloadedRelay({ permissionLifetimeSeconds: 1, sweepIntervalMs: 3_600_000 });
    peer = await startPeer();
  });
  afterAll(async () => {
    await relay?.close();
    await peer?.close();
  });

  it('does not relay past the permission lifetime even before the control plane sweeps', async () => {
    const b = await bind(relay, peer);
    const expiresAt = [...relay.server.allocations()][0].permissions!.get(peer.address.address)!.expiresAt;
    await expectKernelCarries(relay, b, peer);
    // The subject here is the passing of time itself: wait until the permission's lifetime is over.
    await waitFor('the permission lifetime to pass', () => Date.now() > expiresAt + 20, 5000, 20);
    await b.client.binding(); // Node's coarse data-path clock is set on every STUN message: now it knows too
    expect(relay.offloadMetrics.flows).toBe(1); // the entry is still installed
    await sendSeenByNode(relay, () => b.client.sendChannelData(CHANNEL, Buffer.from('late')));
    const readByNode = relay.metrics.peerReceivedPackets;
    peer.send(Buffer.from('late-from-peer'), b.relayed);
    await waitFor('Node to read the peer datagram', () => relay.metrics.peerReceivedPackets > readByNode, 3000, 5);
    await b.client.binding();
    expect(peer.received).toEqual([]);
    expect(b.got).toEqual([]);
  });
});

describe('kernel fast path: IPv6 (::1)', () => {
  let relay: OffloadedRelay;
  let peer: Peer;
  beforeAll(async () => {
    relay = await startOffloadedRelay({}, undefined, '::1');
    peer = await startPeer('::1');
  });
  afterAll(async () => {
    await relay?.close();
    await peer?.close();
  });

  it('relays a bound channel in both directions in the kernel (UDP checksums updated), and stops after Refresh 0', async () => {
    const b = await bind(relay, peer);
    expect(b.relayed.family).toBe(6);
    for (let i = 0; i < 3; i++) await expectKernelCarries(relay, b, peer);
    await b.client.refresh(0);
    expect(relay.offloadMetrics.flows).toBe(0);
    await sendSeenByNode(relay, () => b.client.sendChannelData(CHANNEL, Buffer.from('late')));
    await b.client.binding();
    expect(peer.received).toEqual([]);
  });

  it('relays client to client (two allocations of this relay) in one kernel pass', async () => {
    const a = await relay.client();
    const b = await relay.client();
    const [ra, rb] = [(await a.allocate({ family: 6 })).relayed[0], (await b.allocate({ family: 6 })).relayed[0]];
    await a.channelBind(0x4001, rb);
    await b.channelBind(0x4002, ra);
    const userspace = relay.metrics.userspaceChannelData;
    const before = relay.offloadMetrics.peerToClientPackets;
    const atB = nextData(b);
    a.sendChannelData(0x4001, Buffer.from('a-to-b'));
    const got = await atB;
    expect(got).toMatchObject({ via: 'channel', channel: 0x4002 });
    expect(got.data.toString()).toBe('a-to-b');
    expect(got.peer).toEqual(ra);
    relay.offload.collect();
    expect(relay.offloadMetrics.peerToClientPackets - before).toBe(1);
    expect(relay.metrics.userspaceChannelData).toBe(userspace);
    await a.refresh(0);
    await b.refresh(0);
  });
});
