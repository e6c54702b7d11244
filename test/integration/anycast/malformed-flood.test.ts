/**
 * The anycast listener gets the same malformed-input flood as the unicast ones (issue 2: "at every listener"):
 * 100k random and mutated datagrams at G on a real `anyturn relay` process (G = 127.0.0.2 on loopback, the unicast
 * listener on 127.0.0.1). The relay stays up, counts what it drops, its memory stays bounded, and afterwards G
 * still answers a Binding and redirects an Allocate while the unicast address still allocates.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attr, Method, StunClass, decodeStun, newTransactionId, readAddress, readErrorCode } from '../../../src/stun/index.js';
import { DatagramFuzzer } from '../../support/datagram-fuzzer.js';
import { TurnClient } from '../../support/turn-client.js';
import { freePorts, startRelayProcess, type RelayProcess } from '../relay/relay-process.js';

const TOTAL = 100_000;
const BATCH = 250;
const G = '127.0.0.2';
const U = '127.0.0.1';

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(/(\d+)/.exec(line ?? '')?.[1] ?? NaN) * 1024;
}

async function metric(metricsPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://${U}:${metricsPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && !l.startsWith('#'))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/** Sends one request from `socket` to `to` and resolves with the decoded answer. */
function exchange(socket: dgram.Socket, req: Buffer, tid: Buffer, to: { address: string; port: number }) {
  return new Promise<NonNullable<Exclude<ReturnType<typeof decodeStun>, string>>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer from ${to.address}:${to.port}`)), 5000);
    const onMessage = (m: Buffer): void => {
      const msg = decodeStun(m);
      if (typeof msg === 'string' || !msg.transactionId.equals(tid)) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(msg);
    };
    socket.on('message', onMessage);
    socket.send(req, to.port, to.address);
  });
}

describe('malformed-input flood at the anycast listener', () => {
  let relay: RelayProcess;
  let port: number;
  let metricsPort: number;

  beforeAll(async () => {
    [port, metricsPort] = await freePorts(2);
    relay = await startRelayProcess([
      '--listen', U, '--anycast', G, '--port', String(port), '--metrics', `${U}:${metricsPort}`,
      '--user', 'alice:secret', '--realm', 'flood', '--redirect', 'fast', '--log-level', 'warn',
      '--nonce-key', randomBytes(32).toString('hex'),
    ]);
  });

  afterAll(async () => {
    await relay?.stop();
  });

  it(`survives ${TOTAL} random and mutated datagrams at G and keeps redirecting`, async () => {
    const g = { address: G, port };
    const seedClient = await TurnClient.connect({ server: g, username: 'alice', password: 'secret' });
    seedClient.realm = 'flood';
    seedClient.nonce = 'not-a-real-nonce';
    const seeds = [
      seedClient.encode(Method.Binding, StunClass.Request, newTransactionId()),
      seedClient.encode(Method.Allocate, StunClass.Request, newTransactionId(), (w) => w.addRequestedTransport(17)),
      seedClient.encode(Method.Allocate, StunClass.Request, newTransactionId(), (w) => w.addRequestedTransport(17), true),
      seedClient.encode(Method.Refresh, StunClass.Request, newTransactionId(), (w) => w.addUint32(Attr.LIFETIME, 0), true),
      seedClient.encode(Method.ChannelBind, StunClass.Request, newTransactionId(), (w) =>
        w.addChannelNumber(0x4001).addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 4, address: '192.0.2.1', port: 9 }), true),
      seedClient.encode(Method.Send, StunClass.Indication, newTransactionId(), (w) =>
        w.addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 4, address: '192.0.2.1', port: 9 }).addBytes(Attr.DATA, Buffer.alloc(40, 7))),
      Buffer.from([0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]),
    ];
    await seedClient.close();
    const fuzzer = new DatagramFuzzer(0xa11ca57, seeds);

    const pid = relay.proc.child.pid!;
    const rssBefore = rssBytes(pid);
    const droppedBefore = await metric(metricsPort, 'turn_packets_dropped_total');

    const sockets: dgram.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => s.bind(0, U, resolve));
      s.on('message', () => {});
      sockets.push(s);
    }
    // Paced by a Binding on the unicast address after each batch: the relay's one event loop has read what came
    // before it, so the kernel's socket buffer never overflows and every datagram reaches the relay.
    const marker = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => marker.bind(0, U, resolve));
    try {
      for (let sent = 0; sent < TOTAL; sent += BATCH) {
        const s = sockets[(sent / BATCH) % sockets.length];
        for (let i = 0; i < BATCH; i++) s.send(fuzzer.next(), port, G);
        const tid = newTransactionId();
        await exchange(marker, buildBinding(tid), tid, { address: U, port });
      }
    } finally {
      for (const s of sockets) await new Promise<void>((resolve) => s.close(() => resolve()));
    }

    // Still alive, drops counted, memory bounded.
    expect(relay.proc.child.exitCode).toBeNull();
    const dropped = (await metric(metricsPort, 'turn_packets_dropped_total')) - droppedBefore;
    expect(dropped).toBeGreaterThan(TOTAL * 0.2);
    expect(rssBytes(pid) - rssBefore).toBeLessThan(96 * 1024 * 1024);

    // G still answers a fresh source (the flood's source, 127.0.0.1, is rate-limited on G by now): a Binding, and
    // a 300 to an Allocate in fast mode.
    marker.close();
    const fresh = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => fresh.bind(0, '127.0.0.3', resolve));
    const tid = newTransactionId();
    const binding = await exchange(fresh, buildBinding(tid), tid, g);
    expect(binding.cls).toBe(StunClass.SuccessResponse);
    const atid = newTransactionId();
    const probe = await TurnClient.connect({ server: g, username: 'alice', password: 'secret' });
    const allocate = probe.encode(Method.Allocate, StunClass.Request, atid, (w) => w.addRequestedTransport(17));
    await probe.close();
    const redirect = await exchange(fresh, allocate, atid, g);
    const error = readErrorCode(redirect);
    expect(typeof error === 'object' ? error.code : error).toBe(300);
    const alternate = readAddress(redirect, Attr.ALTERNATE_SERVER);
    expect(alternate).toEqual({ family: 4, address: U, port });
    fresh.close();

    // And the unicast address still allocates.
    const client = await TurnClient.connect({ server: { address: U, port }, username: 'alice', password: 'secret' });
    try {
      const { relayed } = await client.allocate();
      expect(relayed[0].address).toBe(U);
    } finally {
      await client.close();
    }
  }, 120_000);

  it('counts ChannelData and indications sent to G as anycast drops (nothing is relayed from G)', async () => {
    const kind = (k: string) => metric(metricsPort, `anyturn_anycast_answers_total{kind="${k}"}`);
    const [channelBefore, indicationBefore] = [await kind('dropped-channel-data'), await kind('dropped-indication')];
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.4', resolve));
    s.send(Buffer.from([0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]), port, G);
    const indication = Buffer.alloc(20);
    indication.writeUInt16BE(0x0011, 0); // Binding indication (a keepalive)
    indication.writeUInt32BE(0x2112a442, 4);
    newTransactionId().copy(indication, 8);
    s.send(indication, port, G);
    // Handled in order: once a Binding on G from the same socket is answered, both were seen.
    const tid = newTransactionId();
    await exchange(s, buildBinding(tid), tid, { address: G, port });
    s.close();
    expect(await kind('dropped-channel-data')).toBe(channelBefore + 1);
    expect(await kind('dropped-indication')).toBe(indicationBefore + 1);
  });
});

function buildBinding(tid: Buffer): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16BE(0x0001, 0);
  b.writeUInt32BE(0x2112a442, 4);
  tid.copy(b, 8);
  return b;
}