import dgram from 'node:dgram';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attr, Method, StunClass, newTransactionId } from '../../../src/stun/index.js';
import { DatagramFuzzer } from '../../support/datagram-fuzzer.js';
import { TurnClient } from '../../support/turn-client.js';
import { USER, nextData, startPeer, startRelay, type Peer, type Relay } from './relay-fixture.js';

const TOTAL = 100_000;
const BATCH = 200;

describe('malformed-input flood at the UDP listener', () => {
  let relay: Relay;
  let peer: Peer;
  let gc: () => void;

  beforeAll(async () => {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
    relay = await startRelay();
    peer = await startPeer();
  });
  afterAll(async () => {
    await relay.close();
    await peer.close();
  });

  it(`survives ${TOTAL} random and mutated datagrams, counts them, and still serves a normal client`, async () => {
    // Seeds: valid messages of every kind, signed with the right key, to mutate.
    const seedClient = await relay.client();
    await seedClient.allocate();
    await seedClient.createPermission(peer.address);
    await seedClient.channelBind(0x4000, peer.address);
    // Half the seeds without FINGERPRINT, so mutations reach the handlers instead of the fingerprint check.
    const bare = await relay.client({ fingerprint: false });
    bare.realm = seedClient.realm;
    bare.nonce = seedClient.nonce;
    const build = (method: number, cls: StunClass, f: Parameters<TurnClient['encode']>[3], sign = true): Buffer[] => [
      seedClient.encode(method, cls, newTransactionId(), f, sign),
      bare.encode(method, cls, newTransactionId(), f, sign),
    ];
    const seeds: Buffer[] = [
      ...build(Method.Binding, StunClass.Request, undefined, false),
      ...build(Method.Allocate, StunClass.Request, (w) => w.addRequestedTransport(17).addUint32(Attr.LIFETIME, 600)),
      ...build(Method.Allocate, StunClass.Request, (w) =>
        w.addRequestedTransport(17).addEvenPort(true).addRequestedAddressFamily(Attr.ADDITIONAL_ADDRESS_FAMILY, 6),
      ),
      ...build(Method.Refresh, StunClass.Request, (w) => w.addUint32(Attr.LIFETIME, 600)),
      ...build(Method.CreatePermission, StunClass.Request, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer.address)),
      ...build(Method.ChannelBind, StunClass.Request, (w) => w.addChannelNumber(0x4001).addXorAddress(Attr.XOR_PEER_ADDRESS, peer.address)),
      ...build(Method.Send, StunClass.Indication, (w) => w.addXorAddress(Attr.XOR_PEER_ADDRESS, peer.address).addBytes(Attr.DATA, Buffer.alloc(33, 1)), false),
      Buffer.from([0x40, 0x00, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]),
    ];

    // Noise, STUN and ChannelData headers with random fields, and mutations of the seeds (seeded: replayable).
    const fuzzer = new DatagramFuzzer(0x5eed, seeds);

    const fuzzers: dgram.Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
      s.on('message', () => {});
      fuzzers.push(s);
    }
    // A marker client on each fuzzer socket: once its Binding is answered, everything sent before was handled.
    const marker = async (s: dgram.Socket): Promise<void> => {
      const tid = newTransactionId();
      const req = seedClient.encode(Method.Binding, StunClass.Request, tid, undefined, false);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('marker Binding not answered')), 5000);
        const onMessage = (m: Buffer): void => {
          if (m.length >= 20 && m.subarray(8, 20).equals(tid)) {
            clearTimeout(timer);
            s.off('message', onMessage);
            resolve();
          }
        };
        s.on('message', onMessage);
        s.send(req, relay.address.port, relay.address.address);
      });
    };

    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const receivedBefore = relay.metrics.clientReceivedPackets;
    for (let sent = 0; sent < TOTAL; sent += BATCH) {
      const s = fuzzers[(sent / BATCH) % fuzzers.length];
      for (let i = 0; i < BATCH; i++) s.send(fuzzer.next(), relay.address.port, relay.address.address);
      await marker(s);
    }
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    for (const s of fuzzers) await new Promise<void>((resolve) => s.close(() => resolve()));

    const received = relay.metrics.clientReceivedPackets - receivedBefore;
    if (process.env.FUZZ_DEBUG) {
      const lines = (await relay.registry.metrics()).split('\n');
      console.log(lines.filter((l) => /dropped|responses_total|retransmits/.test(l) && !/ 0$/.test(l)).join('\n'), heapAfter - heapBefore);
    }
    // Every datagram (plus the markers) reached the core: loopback loses nothing at this pace.
    expect(received).toBeGreaterThanOrEqual(TOTAL * 0.99);
    expect(relay.metrics.dropped('malformed')).toBeGreaterThan(TOTAL * 0.2);
    // Nothing hit a bug path.
    expect(relay.metrics.dropped('internal-error')).toBe(0);
    expect(relay.metrics.responses(500)).toBe(0);
    // Memory stays bounded (the retransmit cache is capped): well under 64 MB of growth.
    expect(heapAfter - heapBefore).toBeLessThan(64 * 1024 * 1024);

    // A normal client still works end to end.
    const c = await TurnClient.connect({ server: relay.address, username: USER.name, password: USER.password, rtoMs: 100 });
    try {
      const { relayed } = await c.allocate();
      await c.channelBind(0x4100, peer.address);
      c.sendChannelData(0x4100, Buffer.from('still alive'));
      let got = await peer.next();
      while (got.data.toString() !== 'still alive') got = await peer.next();
      const back = nextData(c);
      peer.send(Buffer.from('pong'), relayed[0]);
      expect((await back).data.toString()).toBe('pong');
    } finally {
      await c.close();
    }
  }, 60_000);
});
