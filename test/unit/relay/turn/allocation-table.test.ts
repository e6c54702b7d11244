import { describe, expect, it } from 'vitest';
import { Allocation } from '../../../../relay/turn/allocation.js';
import { AllocationTable } from '../../../../relay/turn/allocation-table.js';
import { FakeTransport } from './fakes.js';

function allocationFor(t: FakeTransport, address: string, port: number): Allocation {
  return new Allocation({ transport: t, clientAddress: address, clientPort: port, username: 'u', nowMs: 0, lifetimeMs: 1000, bucketBytes: 0 });
}

describe('AllocationTable', () => {
  it('finds allocations by 5-tuple and removes only the same object', () => {
    const table = new AllocationTable();
    const t = new FakeTransport();
    const other = new FakeTransport('tcp');
    const a = allocationFor(t, '198.51.100.1', 5000);
    table.add(a);
    expect(table.size).toBe(1);
    expect(table.find(t, '198.51.100.1', 5000)).toBe(a);
    expect(table.find(other, '198.51.100.1', 5000)).toBeUndefined();
    expect(table.find(t, '198.51.100.1', 5001)).toBeUndefined();
    const impostor = allocationFor(t, '198.51.100.1', 5000);
    expect(table.remove(impostor)).toBe(false);
    expect(table.remove(a)).toBe(true);
    expect(table.size).toBe(0);
  });

  it('closeAll closes every allocation', () => {
    const table = new AllocationTable();
    const t = new FakeTransport();
    const all = [allocationFor(t, '198.51.100.1', 1), allocationFor(t, '198.51.100.1', 2)];
    for (const a of all) table.add(a);
    expect(table.closeAll()).toHaveLength(2);
    expect(all.every((a) => a.closed)).toBe(true);
    expect(table.size).toBe(0);
  });
});

describe('AllocationTable: clients sharing a port', () => {
  it('tells apart allocations of one transport and port by client address, and unlinks any of them', () => {
    const table = new AllocationTable();
    const t = new FakeTransport();
    const [a, b, c] = ['198.51.100.1', '198.51.100.2', '198.51.100.3'].map((ip) => allocationFor(t, ip, 5000));
    for (const x of [a, b, c]) table.add(x);
    expect(table.find(t, '198.51.100.1', 5000)).toBe(a);
    expect(table.find(t, '198.51.100.2', 5000)).toBe(b);
    expect(table.find(t, '198.51.100.3', 5000)).toBe(c);
    expect(table.find(t, '198.51.100.4', 5000)).toBeUndefined();
    expect(table.remove(b)).toBe(true); // middle of the chain
    expect(table.find(t, '198.51.100.2', 5000)).toBeUndefined();
    expect(table.find(t, '198.51.100.1', 5000)).toBe(a);
    expect(table.find(t, '198.51.100.3', 5000)).toBe(c);
    expect(table.remove(c)).toBe(true); // head
    expect(table.find(t, '198.51.100.1', 5000)).toBe(a);
    expect(table.remove(a)).toBe(true);
    expect(table.size).toBe(0);
    expect(table.remove(a)).toBe(false);
  });
});
