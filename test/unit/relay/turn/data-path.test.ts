import dgram from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Attr, Method, StunClass, decodeStun, readData, readXorAddress, type TransportAddress } from '../../../../src/stun/index.js';
import type { TurnServer } from '../../../../relay/turn/turn-server.js';
import { FakeTransport, request, unitServer, type UnitServer } from './fakes.js';

const CLIENT = '198.51.100.7';

/** A transport that takes header/payload/padding as parts (like the UDP listener). */
class PartsTransport extends FakeTransport {
  readonly parts: Buffer[][] = [];
  sendParts(parts: readonly Buffer[], address: string, port: number): void {
    this.parts.push(parts.map((p) => Buffer.from(p)));
    this.send(Buffer.concat(parts as Buffer[]), address, port);
  }
}

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function channelData(channel: number, data: Buffer, lengthField = data.length): Buffer {
  const b = Buffer.alloc(4 + data.length);
  b.writeUInt16BE(channel, 0);
  b.writeUInt16BE(lengthField, 2);
  data.copy(b, 4);
  return b;
}

describe('DataPath', () => {
  let u: UnitServer;
  let server: TurnServer;
  let peer: dgram.Socket;
  let peerAddress: TransportAddress;
  const fromPeer: Buffer[] = [];

  beforeEach(async () => {
    u = unitServer({ maxBytesPerSecond: 0 });
    server = u.server;
    peer = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve));
    peer.on('message', (m) => fromPeer.push(Buffer.from(m)));
    peerAddress = { family: 4, address: '127.0.0.1', port: peer.address().port };
    fromPeer.length = 0;
  });
  afterEach(async () => {
    server.close();
    await new Promise<void>((resolve) => peer.close(() => resolve()));
  });

  async function allocateWithChannel(t: FakeTransport, port: number, s: UnitServer = u): Promise<TransportAddress> {
    s.server.handlePacket(t, request(Method.Allocate, (w) => w.addRequestedTransport(17), { nonce: s.nonce }), CLIENT, port);
    await until(() => t.sent.length === 1);
    const relayed = readXorAddress(t.last(), Attr.XOR_RELAYED_ADDRESS) as TransportAddress;
    s.server.handlePacket(t, request(Method.ChannelBind, (w) => w.addChannelNumber(0x4000).addXorAddress(Attr.XOR_PEER_ADDRESS, peerAddress), { nonce: s.nonce }), CLIENT, port);
    expect(t.last().cls).toBe(StunClass.SuccessResponse);
    return relayed;
  }

  it('client ChannelData → peer (payload only; UDP padding after the data is ignored)', async () => {
    const t = new FakeTransport();
    await allocateWithChannel(t, 1);
    const padded = Buffer.concat([channelData(0x4000, Buffer.from('abcde')), Buffer.alloc(3)]);
    server.handlePacket(t, padded, CLIENT, 1);
    await until(() => fromPeer.length === 1);
    expect(fromPeer[0].toString()).toBe('abcde');
    expect(u.metrics.peerSentBytes).toBe(5);
  });

  it('drops ChannelData that is short, unbound, or from a client without allocation', async () => {
    const t = new FakeTransport();
    await allocateWithChannel(t, 1);
    server.handlePacket(t, channelData(0x4000, Buffer.from('ab'), 10), CLIENT, 1);
    server.handlePacket(t, channelData(0x4001, Buffer.from('ab')), CLIENT, 1);
    server.handlePacket(t, channelData(0x4000, Buffer.from('ab')), CLIENT, 2);
    expect(u.metrics.dropped('malformed')).toBe(1);
    expect(u.metrics.dropped('no-channel')).toBe(1);
    expect(u.metrics.dropped('no-allocation')).toBe(1);
    expect(u.metrics.peerSentPackets).toBe(0);
  });

  it('peer → client as ChannelData: header and payload as separate parts with sendParts, one buffer without', async () => {
    const withParts = new PartsTransport();
    const relayed = await allocateWithChannel(withParts, 1);
    peer.send(Buffer.from('xyz'), relayed.port, relayed.address);
    await until(() => withParts.parts.length === 1);
    expect(withParts.parts[0]).toHaveLength(2);
    expect(withParts.parts[0][0]).toEqual(Buffer.from([0x40, 0x00, 0x00, 0x03]));
    expect(withParts.parts[0][1].toString()).toBe('xyz');

    const plain = new FakeTransport();
    const relayed2 = await allocateWithChannel(plain, 2);
    peer.send(Buffer.from('xyz'), relayed2.port, relayed2.address);
    await until(() => plain.sent.length === 3);
    expect(plain.sent[2].data).toEqual(Buffer.from([0x40, 0x00, 0x00, 0x03, 0x78, 0x79, 0x7a]));
  });

  it('peer → client as a Data indication (padded DATA) when no channel is bound', async () => {
    const t = new PartsTransport();
    server.handlePacket(t, request(Method.Allocate, (w) => w.addRequestedTransport(17), { nonce: u.nonce }), CLIENT, 1);
    await until(() => t.sent.length === 1);
    const relayed = readXorAddress(t.last(), Attr.XOR_RELAYED_ADDRESS) as TransportAddress;
    server.handlePacket(t, request(Method.CreatePermission, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peerAddress), { nonce: u.nonce }), CLIENT, 1);
    peer.send(Buffer.from('12345'), relayed.port, relayed.address);
    await until(() => t.parts.length === 1);
    expect(t.parts[0]).toHaveLength(3); // head, payload, 3 bytes of padding
    const m = decodeStun(t.sent[t.sent.length - 1].data);
    if (typeof m === 'string') throw new Error(m);
    expect(m.method).toBe(Method.Data);
    expect(m.cls).toBe(StunClass.Indication);
    expect(readXorAddress(m, Attr.XOR_PEER_ADDRESS)).toEqual(peerAddress);
    expect(readData(m)?.toString()).toBe('12345');
  });

  it('caps an allocation at maxBytesPerSecond and counts the excess', async () => {
    const capped = unitServer({ maxBytesPerSecond: 1000 });
    try {
      const t = new FakeTransport();
      await allocateWithChannel(t, 1, capped);
      for (let i = 0; i < 5; i++) capped.server.handlePacket(t, channelData(0x4000, Buffer.alloc(300)), CLIENT, 1);
      expect(capped.metrics.peerSentPackets).toBe(3);
      expect(capped.metrics.dropped('bandwidth')).toBe(2);
    } finally {
      capped.server.close();
    }
  });
});
