import { describe, expect, it } from 'vitest';
import { Allocation } from '../../../../relay/turn/allocation.js';
import { AllocationTable } from '../../../../relay/turn/allocation-table.js';
import { clientKey } from '../../../../relay/turn/five-tuple.js';
import { FakeTransport } from './fakes.js';

function allocationFor(t: FakeTransport, address: string, port: number): Allocation {
  return new Allocation({ transport: t, clientAddress: address, clientPort: port, key: clientKey(t, address, port), username: 'u', nowMs: 0, lifetimeMs: 1000, bucketBytes: 0 });
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
