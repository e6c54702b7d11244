import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Attr, StunClass, readXorAddress } from '../../../src/stun/index.js';
import { codeOf, nextData, startPeer, startRelay, type Peer, type Relay } from './relay-fixture.js';

describe.each(['native', 'node'] as const)('TURN over UDP (udp-io %s): allocate, permissions, channels, data both ways', (udpIo) => {
  let relay: Relay;
  let peer: Peer;
  beforeEach(async () => {
    relay = await startRelay({}, { udpIo });
    expect(relay.server.udpIo.kind).toBe(udpIo);
    peer = await startPeer();
  });
  afterEach(async () => {
    await relay.close();
    await peer.close();
  });

  it('answers the first Allocate with 401 + REALM + NONCE, then allocates', async () => {
    const c = await relay.client();
    const first = await c.request(0x003, (w) => w.addRequestedTransport(17));
    expect(first.cls).toBe(StunClass.ErrorResponse);
    expect(first.has(Attr.REALM)).toBe(true);
    expect(first.has(Attr.NONCE)).toBe(true);
    expect(first.has(Attr.MESSAGE_INTEGRITY)).toBe(false);
    const r = await c.allocate();
    expect(r.relayed).toHaveLength(1);
    expect(r.relayed[0].address).toBe('127.0.0.1');
    expect(r.relayed[0].port).toBeGreaterThanOrEqual(40000);
    expect(r.mapped).toEqual(c.localAddress);
    expect(r.lifetime).toBe(600);
    expect(r.response.has(Attr.SOFTWARE)).toBe(true);
    expect(r.response.has(Attr.FINGERPRINT)).toBe(true);
    expect(relay.server.allocationCount).toBe(1);
  });

  it('relays Send indications to the peer and peer data back as Data indications', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate();
    await c.createPermission(peer.address);
    c.sendIndication(peer.address, Buffer.from('hello peer'));
    const got = await peer.next();
    expect(got.data.toString()).toBe('hello peer');
    expect(got.from).toEqual(relayed[0]);
    const back = nextData(c);
    peer.send(Buffer.from('hi client!'), relayed[0]);
    const d = await back;
    expect(d.via).toBe('indication');
    expect(d.data.toString()).toBe('hi client!');
    expect(d.peer).toEqual(peer.address);
  });

  it('relays ChannelData both ways after ChannelBind', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate();
    await c.channelBind(0x4001, peer.address);
    c.sendChannelData(0x4001, Buffer.from('via channel'));
    const got = await peer.next();
    expect(got.data.toString()).toBe('via channel');
    const back = nextData(c);
    peer.send(Buffer.from('odd-size-data'), relayed[0]);
    const d = await back;
    expect(d.via).toBe('channel');
    expect(d.channel).toBe(0x4001);
    expect(d.data.toString()).toBe('odd-size-data');
    expect(relay.metrics.peerSentPackets).toBe(1);
    expect(relay.metrics.clientSentPackets).toBeGreaterThan(0);
  });

  it('drops peer data without a permission and client data to peers without one', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate();
    c.sendIndication(peer.address, Buffer.from('nope'));
    peer.send(Buffer.from('nope'), relayed[0]);
    // A Binding round trip on the same socket orders the client's datagram before our check.
    await c.binding();
    await expect.poll(() => relay.metrics.dropped('no-permission')).toBe(2);
    expect(peer.received).toHaveLength(0);
  });

  it('refreshes, and deletes with LIFETIME 0; then requests get 437', async () => {
    const c = await relay.client();
    await c.allocate();
    expect(await c.refresh(1200)).toBe(1200);
    expect(await c.refresh(100)).toBe(600); // below the default → the default
    expect(await c.refresh(99999)).toBe(3600); // capped at the max
    expect(await c.refresh(0)).toBe(0);
    expect(relay.server.allocationCount).toBe(0);
    expect(await codeOf(c.refresh(600))).toBe(437);
  });

  it('answers Binding with XOR-MAPPED-ADDRESS', async () => {
    const c = await relay.client();
    const r = await c.request(0x001);
    expect(r.cls).toBe(StunClass.SuccessResponse);
    expect(readXorAddress(r, Attr.XOR_MAPPED_ADDRESS)).toEqual(c.localAddress);
  });
});
