import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isAnyturnError } from '../../../../src/errors.js';
import { silentLogger } from '../../../../src/log.js';
import { Method, StunClass, StunWriter, newTransactionId } from '../../../../src/stun/index.js';
import { TcpListener } from '../../../../relay/listen/tcp.js';
import { waitFor } from '../../../lab/netns.js';
import { StreamTurnClient } from '../../../integration/relay/stream-turn-client.js';
import { startStreamRelay, USER, type StreamRelay } from './stream-fixture.js';

let relay: StreamRelay | undefined;
const clients: StreamTurnClient[] = [];
const sockets: dgram.Socket[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const s of sockets.splice(0)) s.close();
  await relay?.close();
  relay = undefined;
});

async function client(): Promise<StreamTurnClient> {
  const c = await StreamTurnClient.connect({ host: '127.0.0.1', port: relay!.port, username: USER.name, password: USER.password });
  clients.push(c);
  return c;
}

async function udpPeer(): Promise<{ socket: dgram.Socket; port: number; received: Buffer[] }> {
  const socket = dgram.createSocket('udp4');
  sockets.push(socket);
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, port: socket.address().port, received };
}

function bindingRequest(): Buffer {
  return new StunWriter().reset(Method.Binding, StunClass.Request, newTransactionId()).addFingerprint().toBuffer();
}

describe('TcpListener', () => {
  it('answers a Binding over TCP with the client\'s address and port', async () => {
    relay = await startStreamRelay('tcp');
    const c = await client();
    const mapped = await c.binding();
    expect(mapped).toEqual({ family: 4, address: '127.0.0.1', port: c.socket.localPort });
  });

  it('frames messages that share a write and a message written byte by byte', async () => {
    relay = await startStreamRelay('tcp');
    const c = await client();
    c.write(Buffer.concat([bindingRequest(), bindingRequest()]));
    const slow = bindingRequest();
    for (let i = 0; i < slow.length; i++) c.write(slow.subarray(i, i + 1));
    await waitFor('three Binding responses', () => c.received.length === 3 || undefined, 3000);
    expect(c.received.every((m) => m.readUInt16BE(0) === 0x0101)).toBe(true);
  });

  it('relays ChannelData both ways, padded to 4 on the stream (RFC 8656 §12.5)', async () => {
    relay = await startStreamRelay('tcp');
    const c = await client();
    const relayed = await c.allocate();
    const peer = await udpPeer();
    await c.channelBind(0x4001, { family: 4, address: '127.0.0.1', port: peer.port });
    const before = c.wire.reduce((n, b) => n + b.length, 0);

    c.sendChannelData(0x4001, Buffer.from('hello'));
    await waitFor('the peer to get 5 bytes', () => peer.received.length === 1 || undefined, 3000);
    expect(peer.received[0].toString()).toBe('hello');

    peer.socket.send(Buffer.from('abcde'), relayed.port, relayed.address);
    peer.socket.send(Buffer.from('xyz'), relayed.port, relayed.address);
    await waitFor('two ChannelData messages', () => c.data.length === 2 || undefined, 3000);
    expect(c.data.map((d) => d.data.toString())).toEqual(['abcde', 'xyz']);
    expect(c.data.every((d) => d.peer === 0x4001)).toBe(true);
    // 4 + 5 -> 12 and 4 + 3 -> 8 bytes on the wire.
    expect(c.wire.reduce((n, b) => n + b.length, 0) - before).toBe(20);
    // Still in step after the padding: a Binding is answered.
    expect((await c.binding()).port).toBe(c.socket.localPort);
  });

  it('closes a connection that sends garbage and counts it', async () => {
    relay = await startStreamRelay('tcp');
    const c = await client();
    await c.binding();
    c.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]));
    await c.closed;
    await waitFor('the close to be counted', () => relay!.streamMetrics.closedCount('tcp', 'garbage') === 1 || undefined, 2000);
    expect(relay.metrics.dropped('malformed')).toBeGreaterThanOrEqual(1);
    await waitFor('the listener to forget it', () => relay!.listener.connectionCount === 0 || undefined, 2000);
  });

  it('times out idle connections without an allocation, keeps those with one', async () => {
    relay = await startStreamRelay('tcp', { idleTimeoutMs: 300 });
    const withAllocation = await client();
    await withAllocation.allocate();
    // Opened after the allocation: when it times out, the other connection's idle timer has fired as well.
    const idle = await client();
    await idle.closed;
    await waitFor('the idle close to be counted', () => relay!.streamMetrics.closedCount('tcp', 'idle') === 1 || undefined, 2000);
    expect(withAllocation.socket.destroyed).toBe(false);
    expect(relay.turn.allocationCount).toBe(1);
    expect((await withAllocation.binding()).port).toBe(withAllocation.socket.localPort);
  });

  it('frees the allocation when the client closes the connection', async () => {
    relay = await startStreamRelay('tcp');
    const c = await client();
    await c.allocate();
    expect(relay.turn.allocationCount).toBe(1);
    await c.close();
    await waitFor('the allocation to go', () => relay!.turn.allocationCount === 0 || undefined, 3000);
    expect(relay.streamMetrics.closedCount('tcp', 'client')).toBe(1);
  });

  it('close() ends every connection and allocation', async () => {
    relay = await startStreamRelay('tcp');
    const a = await client();
    const b = await client();
    await a.allocate();
    await b.binding();
    await relay.listener.close();
    await Promise.all([a.closed, b.closed]);
    await waitFor('both closes to be counted', () => relay!.streamMetrics.closedCount('tcp', 'shutdown') === 2 || undefined, 2000);
    expect(relay.turn.allocationCount).toBe(0);
    expect(relay.streamMetrics.open('tcp')).toBe(0);
  });

  it('refuses connections beyond maxConnections', async () => {
    relay = await startStreamRelay('tcp', { maxConnections: 1 });
    const first = await client();
    await first.binding();
    const second = net.connect({ host: '127.0.0.1', port: relay.port });
    second.on('error', () => {});
    await new Promise((resolve) => second.once('close', resolve));
    expect((await first.binding()).port).toBe(first.socket.localPort);
    expect(relay.streamMetrics.refusedCount('total')).toBe(1);
    expect(relay.listener.connectionCount).toBe(1);
  });

  it('fails to bind a taken port with ATN_ERR_LISTEN_BIND naming the address', async () => {
    relay = await startStreamRelay('tcp');
    const second = new TcpListener(
      { address: '127.0.0.1', port: relay.port, role: 'unicast' },
      { sink: relay.turn, log: silentLogger(), metrics: relay.metrics, streamMetrics: relay.streamMetrics },
    );
    const err = await second.listen().then(() => undefined, (e: unknown) => e);
    expect(isAnyturnError(err) && err.code).toBe('ATN_ERR_LISTEN_BIND');
    expect((err as Error).message).toContain(`127.0.0.1:${relay.port}`);
    expect((err as Error).message).toContain('EADDRINUSE');
  });
});
