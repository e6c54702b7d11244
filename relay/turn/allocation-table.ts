/**
 * The allocation table: allocations by 5-tuple. Only the table: admission, quotas and closing policy belong to
 * the server. closeAll() cascades to every allocation.
 *
 * The per-packet lookup (find) does not build a string key: allocations are indexed per transport by client
 * port (a number), and the few allocations that share a port on one transport (different client IPs) are
 * chained through `Allocation.nextSamePort` and told apart by address.
 */
import type { Allocation } from './allocation.js';
import type { ClientTransport } from './client-transport.js';

export class AllocationTable {
  readonly #all = new Set<Allocation>();
  readonly #byTransport = new Map<ClientTransport, Map<number, Allocation>>();

  get size(): number {
    return this.#all.size;
  }

  /** Per packet: the allocation of a client seen through a transport. */
  find(transport: ClientTransport, clientAddress: string, clientPort: number): Allocation | undefined {
    const byPort = this.#byTransport.get(transport);
    if (byPort === undefined) return undefined;
    let a = byPort.get(clientPort);
    while (a !== undefined && a.clientAddress !== clientAddress) a = a.nextSamePort;
    return a;
  }

  /** Adds an allocation; its 5-tuple must not be in the table (the Allocate handler checked: 437). */
  add(allocation: Allocation): void {
    let byPort = this.#byTransport.get(allocation.transport);
    if (byPort === undefined) {
      byPort = new Map();
      this.#byTransport.set(allocation.transport, byPort);
    }
    allocation.nextSamePort = byPort.get(allocation.clientPort);
    byPort.set(allocation.clientPort, allocation);
    this.#all.add(allocation);
  }

  /** Removes the entry if it is this very allocation; true when removed. */
  remove(allocation: Allocation): boolean {
    if (!this.#all.delete(allocation)) return false;
    const byPort = this.#byTransport.get(allocation.transport)!;
    const head = byPort.get(allocation.clientPort);
    if (head === allocation) {
      if (allocation.nextSamePort === undefined) byPort.delete(allocation.clientPort);
      else byPort.set(allocation.clientPort, allocation.nextSamePort);
    } else {
      let a = head;
      while (a !== undefined && a.nextSamePort !== allocation) a = a.nextSamePort;
      if (a !== undefined) a.nextSamePort = allocation.nextSamePort;
    }
    allocation.nextSamePort = undefined;
    if (byPort.size === 0) this.#byTransport.delete(allocation.transport);
    return true;
  }

  values(): IterableIterator<Allocation> {
    return this.#all.values();
  }

  /** Closes and removes every allocation. */
  closeAll(): Allocation[] {
    const all = [...this.#all];
    this.#all.clear();
    this.#byTransport.clear();
    for (const a of all) {
      a.nextSamePort = undefined;
      a.close();
    }
    return all;
  }
}
