/**
 * The per-user channel count (Quota as the Allocation's ChannelLedger) follows every way a binding comes and goes:
 * bound, refreshed (no change), forgotten by the sweep after its lock, dropped with its relayed address, and all
 * at once when the allocation closes. REST usernames count by their user part.
 */
import type { UdpSocket } from '../../../../relay/datagram/udp-socket.js';
import { describe, expect, it } from 'vitest';
import { Allocation } from '../../../../relay/turn/allocation.js';
import { CHANNEL_LOCK_MS } from '../../../../relay/turn/channel-binding.js';
import { PortAllocator } from '../../../../relay/turn/port-allocator.js';
import { Quota } from '../../../../relay/turn/quota.js';
import { RelayedSocket } from '../../../../relay/turn/relayed-socket.js';
import { FakeTransport } from './fakes.js';

function fakeSocket(): UdpSocket {
  return { localAddress: '', localPort: 0, send: () => true, sendParts: () => true, close() {} };
}

function allocationOf(quota: Quota, username: string, ports: PortAllocator): { a: Allocation; v4: RelayedSocket; v6: RelayedSocket } {
  const a = new Allocation({
    transport: new FakeTransport(), clientAddress: '198.51.100.1', clientPort: 5000, username,
    nowMs: 0, lifetimeMs: 600_000, bucketBytes: 0, ledger: quota,
  });
  const v4 = new RelayedSocket(4, '192.0.2.10', ports.acquire('192.0.2.10')!, fakeSocket(), a, ports);
  const v6 = new RelayedSocket(6, '2001:db8::10', ports.acquire('2001:db8::10')!, fakeSocket(), a, ports);
  a.relayedSockets.push(v4, v6);
  return { a, v4, v6 };
}

describe('per-user channel count', () => {
  it('counts bindings as they are made, refreshed, swept, dropped with their family, and closed', () => {
    const quota = new Quota({ capacity: 10, userQuota: 0, userChannelQuota: 5 });
    const ports = new PortAllocator({ minPort: 50000, maxPort: 50010, reservationLifetimeMs: 30_000 });
    const { a, v4, v6 } = allocationOf(quota, '1700000000:alice', ports);
    const p4 = (port: number) => ({ family: 4 as const, address: '203.0.113.5', port });
    const p6 = (port: number) => ({ family: 6 as const, address: '2001:db8::5', port });
    expect(a.bindChannel(0x4000, p4(1), v4, 0, 600_000)).toBe('ok');
    expect(a.bindChannel(0x4001, p4(2), v4, 0, 1_000)).toBe('ok');
    expect(a.bindChannel(0x4002, p6(3), v6, 0, 600_000)).toBe('ok');
    expect(a.bindChannel(0x4003, p6(4), v6, 0, 600_000)).toBe('ok');
    expect(a.bindChannel(0x4000, p4(1), v4, 10, 600_000)).toBe('ok'); // refresh
    expect(a.bindChannel(0x4000, p4(9), v4, 10, 600_000)).toBe('number-bound-to-other-peer');
    expect(quota.channelsOf('alice')).toBe(4);
    expect(quota.channelsOf('1800000000:alice')).toBe(4); // another REST credential of the same user
    expect(quota.channelFits('alice')).toBe(true);
    a.bindChannel(0x4004, p4(5), v4, 0, 600_000);
    expect(quota.channelFits('alice')).toBe(false);
    a.sweep(1_000 + CHANNEL_LOCK_MS); // 0x4001 expired and its lock is over
    expect(quota.channelsOf('alice')).toBe(4);
    a.removeRelayedSocket(6);
    expect(quota.channelsOf('alice')).toBe(2);
    a.close();
    a.close();
    expect(quota.channelsOf('alice')).toBe(0);
    expect(quota.channelFits('alice')).toBe(true);
  });

  it('0 = unlimited', () => {
    const quota = new Quota({ capacity: 10, userQuota: 0 });
    quota.channelsChanged('bob', 1_000_000);
    expect(quota.channelFits('bob')).toBe(true);
  });
});
