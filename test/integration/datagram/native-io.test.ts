/**
 * The native datagram engine (relay/datagram/native-io.ts) on loopback, against Node's dgram as the independent
 * peer: addresses, ports and bytes as sent, batches that stay intact while referenced, parts joined into one
 * datagram, bind errors with their errno name, closed sockets silent, a throwing handler not stopping the batch.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { nativeUdpIo, type NativeUdpIo } from '../../../relay/datagram/native-io.js';
import type { UdpSocket } from '../../../relay/datagram/udp-socket.js';
import { waitFor } from '../../lab/netns.js';

interface Got {
  msg: Buffer;
  address: string;
  port: number;
}

const io = nativeUdpIo();
if (typeof io === 'string') throw new Error(`the native datagram engine must be built for this test: ${io}`);
const engine: NativeUdpIo = io;

const opened: UdpSocket[] = [];
const peers: dgram.Socket[] = [];

async function nativeSocket(address = '127.0.0.1', port = 0): Promise<{ socket: UdpSocket; got: Got[] }> {
  const got: Got[] = [];
  const socket = await engine.bind(
    { family: address.includes(':') ? 6 : 4, address, port },
    { message: (msg, from, fromPort) => got.push({ msg, address: from, port: fromPort }), sendError: () => undefined },
  );
  opened.push(socket);
  return { socket, got };
}

async function peer(address = '127.0.0.1'): Promise<{ socket: dgram.Socket; got: Got[] }> {
  const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  const got: Got[] = [];
  socket.on('message', (msg, rinfo) => got.push({ msg, address: rinfo.address, port: rinfo.port }));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  peers.push(socket);
  return { socket, got };
}

afterEach(async () => {
  for (const s of opened.splice(0)) s.close();
  await Promise.all(peers.splice(0).map((p) => new Promise<void>((resolve) => p.close(() => resolve()))));
});

describe('native datagram engine', () => {
  it('receives what a dgram peer sent, with its address and port, and sends back', async () => {
    const { socket, got } = await nativeSocket();
    expect(socket.localPort).toBeGreaterThan(0);
    const p = await peer();
    p.socket.send(Buffer.from('hello'), socket.localPort, '127.0.0.1');
    await waitFor('datagram at the native socket', () => got.length === 1, 5000, 5);
    expect(got[0].msg.toString()).toBe('hello');
    expect(got[0]).toMatchObject({ address: '127.0.0.1', port: p.socket.address().port });
    expect(socket.send(Buffer.from('back'), p.socket.address().port, '127.0.0.1')).toBe(true);
    await waitFor('datagram at the peer', () => p.got.length === 1, 5000, 5);
    expect(p.got[0].msg.toString()).toBe('back');
    expect(p.got[0].port).toBe(socket.localPort);
  });

  it('works on IPv6 (v6only)', async () => {
    const { socket, got } = await nativeSocket('::1');
    const p = await peer('::1');
    p.socket.send(Buffer.from('six'), socket.localPort, '::1');
    await waitFor('IPv6 datagram', () => got.length === 1, 5000, 5);
    expect(got[0]).toMatchObject({ address: '::1', port: p.socket.address().port });
    expect(socket.send(Buffer.from('x'), p.socket.address().port, '127.0.0.1')).toBe(false); // wrong family
  });

  it('delivers 3000 datagrams from 3 sources to 2 sockets intact and in order per source, held across batches', async () => {
    const a = await nativeSocket();
    const b = await nativeSocket();
    const sources = [await peer(), await peer(), await peer()];
    const N = 1000;
    const ROUND = 25; // datagrams per source between waits: well inside the kernel's default socket buffers
    for (let i = 0; i < N; i++) {
      for (const [k, s] of sources.entries()) {
        const msg = Buffer.alloc(100 + k * 300 + (i % 50), k);
        msg.writeUInt32BE(i, 0);
        s.socket.send(msg, (k === 1 ? b : a).socket.localPort, '127.0.0.1');
      }
      if (i % ROUND === ROUND - 1) {
        const sent = i + 1;
        await waitFor(`round up to ${sent}`, () => a.got.length === 2 * sent && b.got.length === sent, 5000, 1);
      }
    }
    await waitFor('all datagrams', () => a.got.length === 2 * N && b.got.length === N, 10_000, 5);
    for (const [k, s] of sources.entries()) {
      const mine = (k === 1 ? b : a).got.filter((g) => g.port === s.socket.address().port);
      expect(mine).toHaveLength(N);
      mine.forEach((g, i) => {
        expect(g.msg.readUInt32BE(0)).toBe(i);
        expect(g.msg.length).toBe(100 + k * 300 + (i % 50));
        expect(g.msg.subarray(4).every((byte) => byte === k)).toBe(true);
      });
    }
  });

  it('sends up to three parts as one datagram', async () => {
    const { socket } = await nativeSocket();
    const p = await peer();
    const port = p.socket.address().port;
    expect(socket.sendParts([Buffer.from('ab'), Buffer.from('cd'), Buffer.from('e')], port, '127.0.0.1')).toBe(true);
    expect(socket.sendParts([Buffer.from('fg'), Buffer.from('hi')], port, '127.0.0.1')).toBe(true);
    expect(socket.sendParts([Buffer.from('j')], port, '127.0.0.1')).toBe(true);
    await waitFor('three datagrams', () => p.got.length === 3, 5000, 5);
    expect(p.got.map((g) => g.msg.toString())).toEqual(['abcde', 'fghi', 'j']);
  });

  it('rejects a taken port with EADDRINUSE and a bad address with EINVAL, and leaves no socket open', async () => {
    const before = engine.openSockets;
    const { socket } = await nativeSocket();
    await expect(nativeSocket('127.0.0.1', socket.localPort)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await expect(nativeSocket('127.0.0.300')).rejects.toMatchObject({ code: 'EINVAL' });
    expect(engine.openSockets).toBe(before + 1);
    expect(socket.send(Buffer.from('x'), 9, 'not-an-address')).toBe(false);
  });

  it('a closed socket hears nothing more and its port can be bound again', async () => {
    const first = await nativeSocket();
    const port = first.socket.localPort;
    first.socket.close();
    first.socket.close(); // idempotent
    expect(first.socket.send(Buffer.from('x'), 9, '127.0.0.1')).toBe(false);
    const p = await peer();
    await new Promise((resolve) => p.socket.send(Buffer.from('late'), port, '127.0.0.1', resolve)); // sent: nobody bound
    const again = await nativeSocket('127.0.0.1', port);
    p.socket.send(Buffer.from('new'), port, '127.0.0.1');
    await waitFor('datagram at the new socket', () => again.got.length >= 1, 5000, 5);
    expect(first.got).toHaveLength(0);
    expect(again.got.map((g) => g.msg.toString())).toEqual(['new']);
  });

  it('a handler that throws does not stop the rest of the batch', async () => {
    const got: string[] = [];
    const socket = await engine.bind(
      { family: 4, address: '127.0.0.1', port: 0 },
      {
        message: (msg) => {
          got.push(msg.toString());
          if (msg.toString() === 'boom') throw new Error('handler failure on purpose');
        },
        sendError: () => undefined,
      },
    );
    opened.push(socket);
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const p = await peer();
      for (const text of ['one', 'boom', 'two']) p.socket.send(Buffer.from(text), socket.localPort, '127.0.0.1');
      await waitFor('three datagrams', () => got.length === 3, 5000, 5);
      await waitFor('the warning', () => warnings.some((w) => w.includes('handler failure on purpose')), 5000, 5);
    } finally {
      process.off('warning', onWarning);
    }
    expect(got).toEqual(['one', 'boom', 'two']);
  });
});
