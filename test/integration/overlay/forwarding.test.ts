/**
 * Relay-to-relay forwarding over the overlay, in one process on loopback: two relays share the embedded cluster
 * store; client 1 on relay A and client 2 on relay B talk relayed-address to relayed-address. Proves: the data
 * crosses the overlay (overlay counters) and not the public path (nothing reaches B's relayed socket from the
 * kernel); the receiver delivers it as if from A's relayed address, under B's permissions; duplication over both
 * paths delivers each packet once; forged packets (unknown source, wrong MAC, replayed id, too old, another
 * relay's relayed address as source) are never
 * delivered; when the overlay goes down the traffic goes the public way.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryClusterBackend } from '../../../src/cluster/memory-store.js';
import { OverlayKeyring } from '../../../src/overlay/keyring.js';
import { dataTemplate, stampHeader } from '../../../src/overlay/wire.js';
import type { TransportAddress } from '../../../src/stun/index.js';
import { waitFor } from '../../lab/netns.js';
import type { TurnClient } from '../../support/turn-client.js';
import { OVERLAY_KEY, startOverlayRelay, type OverlayRelay } from './overlay-fixture.js';

let relays: OverlayRelay[] = [];
const sockets: dgram.Socket[] = [];

afterEach(async () => {
  await Promise.all(relays.map((r) => r.close()));
  relays = [];
  for (const s of sockets.splice(0)) s.close();
});

interface Pair {
  a: OverlayRelay;
  b: OverlayRelay;
  c1: TurnClient;
  c2: TurnClient;
  r1: TransportAddress;
  r2: TransportAddress;
  backend: MemoryClusterBackend;
  /** Datagrams B's relayed socket got from the kernel (the public path). */
  publicAtB: () => number;
}

async function pair(opts: { duplicate?: string[] } = {}): Promise<Pair> {
  const backend = new MemoryClusterBackend();
  const a = await startOverlayRelay(backend, 'relay-a', { min: 41000, max: 41999 }, opts);
  const b = await startOverlayRelay(backend, 'relay-b', { min: 42000, max: 42999 });
  relays.push(a, b);
  await a.store.addOverlayKey(OVERLAY_KEY);
  const c1 = await a.client();
  const c2 = await b.client();
  const r1 = (await c1.allocate()).relayed[0];
  const r2 = (await c2.allocate()).relayed[0];
  await c1.createPermission(r2);
  await c2.createPermission(r1);
  const publicBefore = b.relayedDatagrams();
  const upBoth = (r: OverlayRelay): boolean => r.overlay.report().paths.filter((p) => p.up).length === 2;
  await waitFor('overlay paths up both ways', () => upBoth(a) && upBoth(b), 10_000);
  return { a, b, c1, c2, r1, r2, backend, publicAtB: () => b.relayedDatagrams() - publicBefore };
}

/** Sends `n` indications from c1 to r2 and collects what c2 gets (payloads as numbers). */
async function exchange(p: Pair, n: number, first = 0): Promise<number[]> {
  const got: number[] = [];
  const onData = (peer: TransportAddress, data: Buffer): void => {
    expect(peer).toEqual(p.r1);
    got.push(data.readUInt32BE(0));
  };
  p.c2.on('data', onData);
  for (let i = first; i < first + n; i++) {
    const b = Buffer.alloc(32);
    b.writeUInt32BE(i, 0);
    p.c1.sendIndication(p.r2, b);
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 1));
  }
  await waitFor(`${n} packets at client 2`, () => got.length >= n || undefined, 10_000).catch(() => undefined);
  p.c2.off('data', onData);
  return got;
}

describe('overlay forwarding (in process, loopback)', () => {
  it('carries relayed-address to relayed-address traffic over the overlay, delivered as from the sender\'s relayed address', async () => {
    const p = await pair();
    const got = await exchange(p, 500);
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(p.publicAtB()).toBe(0);
    expect(p.b.overlay.metrics.delivered).toBe(500);
    expect(p.a.overlay.metrics.publicFallback).toBe(0);
    // one path at a time without duplication: no copies
    expect(p.b.overlay.metrics.duplicates[0] + p.b.overlay.metrics.duplicates[1]).toBe(0);
    // the other direction, and ChannelData: c2 binds a channel to r1 and gets ChannelData back
    await p.c2.channelBind(0x4001, p.r1);
    const back = new Promise<{ via: string; peer: TransportAddress }>((resolve) => p.c2.once('data', (peer, _d, via) => resolve({ via, peer })));
    p.c1.sendIndication(p.r2, Buffer.from('to-channel'));
    expect(await back).toEqual({ via: 'channel', peer: p.r1 });
    const toC1 = new Promise<TransportAddress>((resolve) => p.c1.once('data', (peer) => resolve(peer)));
    p.c2.sendChannelData(0x4001, Buffer.from('reply'));
    expect(await toC1).toEqual(p.r2);
  });

  it('delivers under the receiver\'s permissions: without one at B nothing reaches client 2', async () => {
    const p = await pair();
    // relay C relays on 127.0.0.3: client 2 has no permission for that IP (TURN permissions are per IP)
    const c = await startOverlayRelay(p.backend, 'relay-c', { min: 45000, max: 45999 }, { relayIp: '127.0.0.3' });
    relays.push(c);
    const c3 = await c.client();
    const r3 = (await c3.allocate()).relayed[0];
    expect(r3.address).toBe('127.0.0.3');
    await c3.createPermission(p.r2);
    await waitFor('C\'s paths to B up', () => c.overlay.report().paths.filter((s) => s.peer === 'relay-b' && s.up).length === 2 || undefined, 10_000);
    let toClient2 = 0;
    p.c2.on('data', () => toClient2++);
    const before = p.b.metrics.dropped('no-permission');
    c3.sendIndication(p.r2, Buffer.from('not permitted'));
    await waitFor('the drop at B', () => p.b.metrics.dropped('no-permission') > before || undefined, 5_000);
    expect(p.b.overlay.metrics.delivered).toBe(1); // handed to B's data path, which refused it
    expect(toClient2).toBe(0);
  });

  it('duplicates over both paths for a named user and delivers each packet once', async () => {
    const p = await pair({ duplicate: ['alice'] });
    const got = await exchange(p, 400);
    expect(got).toEqual(Array.from({ length: 400 }, (_, i) => i));
    const m = p.b.overlay.metrics;
    await waitFor('every copy counted', () => m.duplicates[0] + m.duplicates[1] >= 400 || undefined, 5_000);
    expect(m.duplicates[0] + m.duplicates[1]).toBe(400);
    expect(m.arrived[0]).toBeGreaterThanOrEqual(400);
    expect(m.arrived[1]).toBeGreaterThanOrEqual(400);
    const status = p.b.overlay.report().paths;
    expect(status.map((s) => s.peer)).toEqual(['relay-a', 'relay-a']);
    expect(status.reduce((n, s) => n + s.duplicates, 0)).toBe(400);
    expect(status.every((s) => s.loss === 0 && s.rttMs !== undefined)).toBe(true);
  });

  it('never delivers a forged packet: unknown source, wrong MAC, replayed id, too-old id, spoofed relayed source', async () => {
    const p = await pair();
    // A registered "relay" whose overlay address is the test's socket: it may send, but only what verifies.
    const evil = dgram.createSocket('udp4');
    sockets.push(evil);
    await new Promise<void>((r) => evil.bind(0, '127.0.0.1', () => r()));
    const stranger = dgram.createSocket('udp4');
    sockets.push(stranger);
    await new Promise<void>((r) => stranger.bind(0, '127.0.0.1', () => r()));
    const bPath0 = p.b.overlay.report().addresses[0];
    await p.a.store.heartbeat({
      id: 'relay-evil', pop: 'x', addresses: [], capacity: 1, allocations: 0, load: 0, bandwidthBps: 0, state: 'active',
      overlay: { addresses: [{ family: 4, address: '127.0.0.1', port: evil.address().port }], paths: [] },
    }, 60_000);
    await waitFor('B to know relay-evil', () => p.b.overlay.report().paths.some((s) => s.peer === 'relay-evil') || undefined, 5_000);
    const got: string[] = [];
    p.c2.on('data', (_peer, data) => got.push(data.toString()));
    // The evil relay's packets claim 127.0.0.1:40999 (no relay's range; permitted at B by IP, as r1 is).
    const fromEvil = { family: 4 as const, address: p.r1.address, port: 40999 };
    const make = (key: string, packetId: number, text: string, source: TransportAddress = fromEvil): Buffer => {
      const ring = new OverlayKeyring();
      ring.setKeys([key]);
      const head = Buffer.from(dataTemplate(77, source, p.r2)!);
      stampHeader(head, { keyId: ring.signingKeyId!, flags: 0, packetId, sendTimestamp: 1, echoReference: 0, echoDelta: 0 });
      const payload = Buffer.from(text);
      return Buffer.concat([head, payload, ring.sign([head, payload])!]);
    };
    const send = (s: dgram.Socket, b: Buffer): void => s.send(b, bPath0.port, bPath0.address);
    const m = p.b.overlay.metrics;
    send(stranger, make(OVERLAY_KEY, 1, 'unknown-source'));
    send(evil, make('some-other-key-0123456789abcdef', 2, 'wrong-key'));
    const tampered = make(OVERLAY_KEY, 3, 'tampered');
    tampered[tampered.length - 20] ^= 1;
    send(evil, tampered);
    const genuine = make(OVERLAY_KEY, 5000, 'genuine');
    send(evil, genuine);
    send(evil, genuine); // replayed
    send(evil, make(OVERLAY_KEY, 10, 'too-old'));
    send(evil, make(OVERLAY_KEY, 5001, 'spoofed-relay-a-source', p.r1)); // r1 is relay-a's, not relay-evil's
    await waitFor('every forged packet judged', () =>
      m.dropped('unknown-source') >= 2 && m.dropped('unknown-key') + m.dropped('bad-mac') >= 2 &&
      m.duplicates[0] >= 1 && m.dropped('too-old') >= 1 || undefined, 5_000);
    await waitFor('the genuine one', () => got.length >= 1 || undefined, 5_000);
    expect(got).toEqual(['genuine']);
    expect(m.dropped('unknown-source')).toBe(2);
    expect(m.dropped('unknown-key') + m.dropped('bad-mac')).toBe(2);
  });

  it('falls back to the public path when the overlay is down, and loses nothing once it is detected', async () => {
    const p = await pair();
    expect(await exchange(p, 100)).toHaveLength(100);
    p.b.overlay.close(); // B's overlay sockets are gone: A stops hearing B
    await waitFor('A to see the paths down', () => p.a.overlay.report().paths.every((s) => !s.up) || undefined, 5_000);
    const got = await exchange(p, 300, 1000);
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => 1000 + i));
    expect(p.publicAtB()).toBe(300);
    expect(p.a.overlay.metrics.publicFallback).toBe(300);
  });

  it('sends nothing over the overlay without a cluster overlay key', async () => {
    const backend = new MemoryClusterBackend();
    const a = await startOverlayRelay(backend, 'relay-a', { min: 43000, max: 43999 });
    const b = await startOverlayRelay(backend, 'relay-b', { min: 44000, max: 44999 });
    relays.push(a, b);
    const c1 = await a.client();
    const c2 = await b.client();
    const r1 = (await c1.allocate()).relayed[0];
    const r2 = (await c2.allocate()).relayed[0];
    await c1.createPermission(r2);
    await c2.createPermission(r1);
    const got = new Promise<TransportAddress>((resolve) => c2.once('data', (peer) => resolve(peer)));
    c1.sendIndication(r2, Buffer.from('public'));
    expect(await got).toEqual(r1);
    expect(a.overlay.metrics.sent[0] + a.overlay.metrics.sent[1]).toBe(0);
  });
});
