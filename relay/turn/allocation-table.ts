/**
 * The allocation table: allocations by 5-tuple key (see five-tuple.ts clientKey). Only the table: admission,
 * quotas and closing policy belong to the server. closeAll() cascades to every allocation.
 */
import type { Allocation } from './allocation.js';
import type { ClientTransport } from './client-transport.js';
import { clientKey } from './five-tuple.js';

export class AllocationTable {
  readonly #byKey = new Map<string, Allocation>();

  get size(): number {
    return this.#byKey.size;
  }

  /** Per packet: the allocation of a client seen through a transport. */
  find(transport: ClientTransport, clientAddress: string, clientPort: number): Allocation | undefined {
    return this.#byKey.get(clientKey(transport, clientAddress, clientPort));
  }

  get(key: string): Allocation | undefined {
    return this.#byKey.get(key);
  }

  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  add(allocation: Allocation): void {
    this.#byKey.set(allocation.key, allocation);
  }

  /** Removes the entry if it is this very allocation; true when removed. */
  remove(allocation: Allocation): boolean {
    if (this.#byKey.get(allocation.key) !== allocation) return false;
    this.#byKey.delete(allocation.key);
    return true;
  }

  values(): IterableIterator<Allocation> {
    return this.#byKey.values();
  }

  /** Closes and removes every allocation. */
  closeAll(): Allocation[] {
    const all = [...this.#byKey.values()];
    this.#byKey.clear();
    for (const a of all) a.close();
    return all;
  }
}
