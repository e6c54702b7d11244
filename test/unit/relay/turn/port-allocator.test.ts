import { describe, expect, it } from 'vitest';
import { PortAllocator } from '../../../../relay/turn/port-allocator.js';

describe('PortAllocator', () => {
  it('hands out every port of the range once, then none', () => {
    const p = new PortAllocator({ minPort: 50000, maxPort: 50009, reservationLifetimeMs: 30_000 });
    const got = new Set<number>();
    for (let i = 0; i < 10; i++) got.add(p.acquire('192.0.2.1')!);
    expect([...got].sort()).toEqual([50000, 50001, 50002, 50003, 50004, 50005, 50006, 50007, 50008, 50009]);
    expect(p.acquire('192.0.2.1')).toBeUndefined();
    expect(p.inUse('192.0.2.1')).toBe(10);
    // Ports are per relay address.
    expect(p.acquire('192.0.2.2')).toBeDefined();
    p.release('192.0.2.1', 50004);
    expect(p.acquire('192.0.2.1')).toBe(50004);
  });

  it('chooses ports at random', () => {
    const p = new PortAllocator({ minPort: 10000, maxPort: 60000, reservationLifetimeMs: 30_000 });
    const first = Array.from({ length: 20 }, () => p.acquire('a')!);
    const sorted = [...first].sort((x, y) => x - y);
    expect(first).not.toEqual(sorted); // 20 random picks are not in order (chance 1/20!)
  });

  it('EVEN-PORT: even ports; even-pair books the next one too', () => {
    const p = new PortAllocator({ minPort: 50000, maxPort: 50005, reservationLifetimeMs: 30_000 });
    const even = p.acquire('a', 'even')!;
    expect(even % 2).toBe(0);
    const pair = p.acquire('a', 'even-pair')!;
    expect(pair % 2).toBe(0);
    expect(p.acquireExact('a', pair + 1)).toBe(false); // booked
    expect(p.inUse('a')).toBe(3);
    // One even port left (odd ones are free but 'even' skips them).
    expect(p.acquire('a', 'even')).toBeDefined();
    expect(p.acquire('a', 'even')).toBeUndefined();
    expect(p.acquire('a', 'any')).toBeDefined();
  });

  it('even-pair never uses a port past the range end', () => {
    const p = new PortAllocator({ minPort: 50000, maxPort: 50000, reservationLifetimeMs: 30_000 });
    expect(p.acquire('a', 'even-pair')).toBeUndefined();
    expect(p.acquire('a', 'even')).toBe(50000);
  });

  it('reservations: a token is claimed once, before it expires', () => {
    const p = new PortAllocator({ minPort: 50000, maxPort: 50009, reservationLifetimeMs: 30_000 });
    const port = p.acquire('a', 'even-pair')!;
    const token = p.reserve('a', port + 1, 1000, 'alice');
    expect(token).toHaveLength(8);
    expect(p.holderOf(token, 1000)).toBe('alice');
    expect(p.claim(token, 2000)).toEqual({ address: 'a', port: port + 1 });
    expect(p.claim(token, 2000)).toBeUndefined();
    expect(p.inUse('a')).toBe(2); // still booked: the caller binds it
  });

  it('expired reservations free their port and tell their holder (sweep or late claim); a claimed one does not', () => {
    const expired: string[] = [];
    const p = new PortAllocator({ minPort: 50000, maxPort: 50009, reservationLifetimeMs: 30_000, onReservationExpired: (h) => expired.push(h) });
    const a = p.acquire('a', 'even-pair')!;
    const t1 = p.reserve('a', a + 1, 0, 'alice');
    expect(p.holderOf(t1, 29_999)).toBe('alice');
    expect(p.holderOf(t1, 30_000)).toBeUndefined();
    expect(p.sweep(29_999)).toBe(0);
    expect(expired).toEqual([]);
    expect(p.sweep(30_000)).toBe(1);
    expect(expired).toEqual(['alice']);
    expect(p.inUse('a')).toBe(1);
    const b = p.acquire('a', 'even-pair')!;
    const t2 = p.reserve('a', b + 1, 0, 'bob');
    expect(p.claim(t2, 31_000)).toBeUndefined();
    expect(expired).toEqual(['alice', 'bob']);
    expect(p.inUse('a')).toBe(2);
    expect(p.reservations).toBe(0);
    const c = p.acquire('a', 'even-pair')!;
    const t3 = p.reserve('a', c + 1, 0, 'carol');
    expect(p.claim(t3, 1000)).toEqual({ address: 'a', port: c + 1 });
    p.sweep(60_000);
    expect(expired).toEqual(['alice', 'bob']);
  });

  it('cancel drops a reservation and frees its port without telling the holder', () => {
    const expired: string[] = [];
    const p = new PortAllocator({ minPort: 50000, maxPort: 50009, reservationLifetimeMs: 30_000, onReservationExpired: (h) => expired.push(h) });
    const a = p.acquire('a', 'even-pair')!;
    const t = p.reserve('a', a + 1, 0, 'alice');
    p.cancel(t);
    expect(p.holderOf(t, 0)).toBeUndefined();
    expect(p.inUse('a')).toBe(1);
    p.sweep(60_000);
    expect(expired).toEqual([]);
  });
});
