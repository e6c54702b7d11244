import dgram from 'node:dgram';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { errorResponseOf, nextData, startPeer, startRelay, type Peer, type Relay } from './relay-fixture.js';

/**
 * Lifetimes with a controlled clock: the relay reads `now` from a manual clock and its one periodic sweep runs
 * on a faked setInterval (sockets and the client's retransmission timers stay real).
 */
describe('TURN lifetimes (manual clock + fake sweep timer)', () => {
  let now = 1_700_000_000_000;
  const clock = { now: () => now };
  let relay: Relay;
  let peer: Peer;

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    relay = await startRelay({}, { clock, nonceTtlMs: 3_600_000 });
    peer = await startPeer();
  });
  afterEach(async () => {
    await relay.close();
    await peer.close();
    vi.useRealTimers();
  });

  function advance(seconds: number): void {
    now += seconds * 1000;
    vi.advanceTimersByTime(1000); // one sweep
  }

  it('expires an allocation after its lifetime and frees its port', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate({ lifetime: 600 });
    advance(599);
    expect(relay.server.allocationCount).toBe(1);
    advance(2);
    expect(relay.server.allocationCount).toBe(0);
    const err = await errorResponseOf(c.refresh(600));
    expect(err.code).toBe(437);
    // The relayed socket is closed: its port can be bound again.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(relayed[0].port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const text = await relay.registry.metrics();
    expect(text).toMatch(/turn_allocations_closed_total\{reason="expired"\} 1/);
  });

  it('an Allocate on the 5-tuple of an expired (not yet swept) allocation gets a new one, not 437', async () => {
    const c = await relay.client();
    const first = await c.allocate({ lifetime: 600 });
    now += 601_000; // no sweep ran
    const second = await c.allocate();
    expect(second.relayed).toHaveLength(1);
    expect(relay.server.allocationCount).toBe(1);
    expect(relay.server.findAllocation(relay.listener, c.localAddress.address, c.localAddress.port)?.relayedSockets[0].port).toBe(second.relayed[0].port);
    expect(first.relayed[0].port).toBeGreaterThan(0);
  });

  it('a Refresh extends the lifetime', async () => {
    const c = await relay.client();
    await c.allocate();
    advance(500);
    expect(await c.refresh(600)).toBe(600);
    advance(500);
    expect(relay.server.allocationCount).toBe(1);
    advance(101);
    expect(relay.server.allocationCount).toBe(0);
  });

  it('permissions last 300 s unless refreshed', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate({ lifetime: 3600 });
    await c.createPermission(peer.address);
    advance(299);
    c.sendIndication(peer.address, Buffer.from('in time'));
    expect((await peer.next()).data.toString()).toBe('in time');
    advance(2);
    c.sendIndication(peer.address, Buffer.from('too late'));
    peer.send(Buffer.from('too late too'), relayed[0]);
    await c.binding(); // orders the client's datagram
    await expect.poll(() => relay.metrics.dropped('no-permission')).toBe(2);
    expect(peer.received).toHaveLength(0);
    // Refreshing it (a new CreatePermission) brings data back.
    await c.createPermission(peer.address);
    const back = nextData(c);
    peer.send(Buffer.from('again'), relayed[0]);
    expect((await back).data.toString()).toBe('again');
  });

  it('channels last 600 s; an expired channel stays locked to its peer for 5 more minutes', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate({ lifetime: 3600 });
    await c.channelBind(0x4000, peer.address);
    advance(290);
    await c.createPermission(peer.address); // keep the permission, not the channel
    advance(290);
    await c.createPermission(peer.address);
    advance(21); // channel bound 601 s ago
    c.sendChannelData(0x4000, Buffer.from('stale channel'));
    await c.binding();
    await expect.poll(() => relay.metrics.dropped('no-channel')).toBe(1);
    // Peer data now comes as a Data indication.
    const back = nextData(c);
    peer.send(Buffer.from('no channel'), relayed[0]);
    expect((await back).via).toBe('indication');
    // Locked: the number cannot go to another peer yet, but the same peer can rebind it.
    const other = await startPeer();
    try {
      const err = await errorResponseOf(c.channelBind(0x4000, other.address));
      expect(err.code).toBe(400);
      await c.channelBind(0x4000, peer.address);
      c.sendChannelData(0x4000, Buffer.from('rebound'));
      expect((await peer.next()).data.toString()).toBe('rebound');
      // 600 s + 300 s later, the number is free for another peer.
      advance(290);
      await c.createPermission(other.address);
      advance(290);
      await c.refresh(3600);
      advance(330);
      await c.channelBind(0x4000, other.address);
    } finally {
      await other.close();
    }
  });

  it('a stale nonce gets 438 and the client recovers with the fresh one', async () => {
    const c = await relay.client();
    await c.allocate({ lifetime: 3600 });
    const oldNonce = c.nonce;
    now += 1_800_000;
    expect(await c.refresh(3600)).toBe(3600); // nonce still fresh
    expect(c.nonce).toBe(oldNonce);
    now += 1_801_000; // nonce now older than its 3600 s TTL; allocation refreshed 1801 s ago
    const before = relay.metrics.responses(438);
    expect(await c.refresh(3600)).toBe(3600);
    expect(c.nonce).not.toBe(oldNonce);
    expect(relay.metrics.responses(438)).toBe(before + 1);
  });
});
