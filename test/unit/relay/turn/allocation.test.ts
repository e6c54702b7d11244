import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Allocation } from '../../../../relay/turn/allocation.js';
import { CHANNEL_LOCK_MS } from '../../../../relay/turn/channel-binding.js';
import { PortAllocator } from '../../../../relay/turn/port-allocator.js';
import { RelayedSocket } from '../../../../relay/turn/relayed-socket.js';
import type { UdpSocket } from '../../../../relay/datagram/udp-socket.js';
import { FakeTransport } from './fakes.js';

/** A stand-in for a UDP socket: only close() is used by RelayedSocket here. */
function fakeSocket(): UdpSocket & { closed: number } {
  const s = { closed: 0, localAddress: '', localPort: 0, send: () => true, sendParts: () => true, close() { s.closed++; } };
  return s;
}

describe('Allocation (lifetimes on the injected clock, fake timers)', () => {
  const clock = { now: () => Date.now() };
  let allocation: Allocation;
  let ports: PortAllocator;
  let relay4: RelayedSocket;
  const peerA = { family: 4 as const, address: '203.0.113.5', port: 7000 };
  const peerB = { family: 4 as const, address: '203.0.113.6', port: 7000 };

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(1_000_000);
    ports = new PortAllocator({ minPort: 50000, maxPort: 50010, reservationLifetimeMs: 30_000 });
    allocation = new Allocation({
      transport: new FakeTransport(),
      clientAddress: '198.51.100.1',
      clientPort: 5000,
      username: 'alice',
      nowMs: clock.now(),
      lifetimeMs: 600_000,
      bucketBytes: 0,
    });
    const port = ports.acquire('192.0.2.10')!;
    relay4 = new RelayedSocket(4, '192.0.2.10', port, fakeSocket(), allocation, ports);
    allocation.relayedSockets.push(relay4);
  });
  afterEach(() => vi.useRealTimers());

  it('expires at its lifetime and refreshes', () => {
    vi.advanceTimersByTime(599_999);
    expect(allocation.isExpired(clock.now())).toBe(false);
    allocation.refresh(clock.now(), 600_000);
    vi.advanceTimersByTime(599_999);
    expect(allocation.isExpired(clock.now())).toBe(false);
    vi.advanceTimersByTime(1);
    expect(allocation.isExpired(clock.now())).toBe(true);
  });

  it('permissions are per IP, last their lifetime and are swept', () => {
    expect(allocation.permissions).toBeUndefined(); // nothing allocated while unused
    allocation.installPermission(peerA.address, clock.now(), 300_000);
    expect(allocation.validPermission(peerA.address, clock.now())).toBeDefined();
    expect(allocation.validPermission(peerB.address, clock.now())).toBeUndefined();
    vi.advanceTimersByTime(200_000);
    allocation.installPermission(peerA.address, clock.now(), 300_000); // refresh
    vi.advanceTimersByTime(299_999);
    expect(allocation.validPermission(peerA.address, clock.now())).toBeDefined();
    vi.advanceTimersByTime(1);
    expect(allocation.validPermission(peerA.address, clock.now())).toBeUndefined();
    allocation.sweep(clock.now());
    expect(allocation.permissions).toBeUndefined();
  });

  it('binds channels, refreshes them and refuses conflicting bindings', () => {
    const now = clock.now();
    expect(allocation.bindChannel(0x4000, peerA, relay4, now, 600_000)).toBe('ok');
    expect(allocation.bindChannel(0x4000, peerA, relay4, now, 600_000)).toBe('ok');
    expect(allocation.bindChannel(0x4000, peerB, relay4, now, 600_000)).toBe('number-bound-to-other-peer');
    expect(allocation.bindChannel(0x4001, peerA, relay4, now, 600_000)).toBe('peer-bound-to-other-number');
    expect(allocation.bindChannel(0x4001, { ...peerA, port: 7001 }, relay4, now, 600_000)).toBe('ok');
    expect(allocation.channel(0x4000)?.peer).toEqual(peerA);
    expect(allocation.channelForPeer(peerA.address, peerA.port)?.number).toBe(0x4000);
  });

  it('an expired channel carries nothing but stays locked for 5 minutes, then is forgotten', () => {
    allocation.bindChannel(0x4000, peerA, relay4, clock.now(), 600_000);
    vi.advanceTimersByTime(600_000);
    const ch = allocation.channel(0x4000)!;
    expect(ch.isValid(clock.now())).toBe(false);
    allocation.sweep(clock.now());
    expect(allocation.bindChannel(0x4000, peerB, relay4, clock.now(), 600_000)).toBe('number-bound-to-other-peer');
    vi.advanceTimersByTime(CHANNEL_LOCK_MS);
    allocation.sweep(clock.now());
    expect(allocation.channels).toBeUndefined();
    expect(allocation.bindChannel(0x4000, peerB, relay4, clock.now(), 600_000)).toBe('ok');
  });

  it('close cascades to permissions, channels and sockets (ports back), idempotently', () => {
    allocation.installPermission(peerA.address, clock.now(), 300_000);
    allocation.bindChannel(0x4000, peerA, relay4, clock.now(), 600_000);
    expect(ports.inUse('192.0.2.10')).toBe(1);
    allocation.close();
    allocation.close();
    expect(allocation.closed).toBe(true);
    expect(allocation.permissions).toBeUndefined();
    expect(allocation.channels).toBeUndefined();
    expect(relay4.closed).toBe(true);
    expect((relay4.socket as unknown as { closed: number }).closed).toBe(1);
    expect(ports.inUse('192.0.2.10')).toBe(0);
  });

  it('removes one family of a dual allocation with its channels', () => {
    const relay6 = new RelayedSocket(6, '2001:db8::10', ports.acquire('2001:db8::10')!, fakeSocket(), allocation, ports);
    allocation.relayedSockets.push(relay6);
    const peer6 = { family: 6 as const, address: '2001:db8::99', port: 9 };
    allocation.bindChannel(0x4000, peer6, relay6, clock.now(), 600_000);
    allocation.bindChannel(0x4001, peerA, relay4, clock.now(), 600_000);
    expect(allocation.relayFor(6)).toBe(relay6);
    allocation.removeRelayedSocket(6);
    expect(allocation.relayFor(6)).toBeUndefined();
    expect(allocation.relayFor(4)).toBe(relay4);
    expect(allocation.channel(0x4000)).toBeUndefined();
    expect(allocation.channel(0x4001)).toBeDefined();
    expect(relay6.closed).toBe(true);
  });
});

describe('Allocation channel index by peer', () => {
  it('finds bindings of peers sharing a port and forgets any of them', () => {
    vi.useFakeTimers();
    try {
      const ports = new PortAllocator({ minPort: 50000, maxPort: 50010, reservationLifetimeMs: 30_000 });
      const a = new Allocation({ transport: new FakeTransport(), clientAddress: '198.51.100.1', clientPort: 1, username: 'u', nowMs: 0, lifetimeMs: 3_600_000, bucketBytes: 0 });
      const relay = new RelayedSocket(4, '192.0.2.10', ports.acquire('192.0.2.10')!, fakeSocket(), a, ports);
      a.relayedSockets.push(relay);
      const ips = ['203.0.113.1', '203.0.113.2', '203.0.113.3'];
      ips.forEach((ip, i) => expect(a.bindChannel(0x4000 + i, { family: 4, address: ip, port: 9000 }, relay, 0, 600_000)).toBe('ok'));
      ips.forEach((ip, i) => expect(a.channelForPeer(ip, 9000)?.number).toBe(0x4000 + i));
      expect(a.channelForPeer('203.0.113.4', 9000)).toBeUndefined();
      // Refresh only the middle one, let the others be forgotten.
      a.bindChannel(0x4001, { family: 4, address: ips[1], port: 9000 }, relay, 600_000, 600_000);
      a.sweep(600_000 + CHANNEL_LOCK_MS);
      expect(a.channelForPeer(ips[0], 9000)).toBeUndefined();
      expect(a.channelForPeer(ips[1], 9000)?.number).toBe(0x4001);
      expect(a.channelForPeer(ips[2], 9000)).toBeUndefined();
      expect(a.channel(0x4000)).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });
});
