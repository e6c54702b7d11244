/**
 * Where a datagram the kernel fast path rewrites must go: 0 when the destination is an address of this host (the
 * stack delivers it), else the ifindex of the interface the main IPv4 routing table names (longest prefix of
 * /proc/net/route; the kernel resolves the next hop and neighbour itself). undefined: no route, the flow stays
 * in userspace. Read once and on refresh() (the offload's sweep), never per packet or per binding.
 */
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

interface Route {
  network: number;
  mask: number;
  ifname: string;
}

export function ipv4ToInt(address: string): number {
  const p = address.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

/** /proc/net/route holds addresses as host-order (little-endian) hex of the network-order bytes. */
function procHex(hex: string): number {
  const v = parseInt(hex, 16);
  return (((v & 0xff) << 24) | (((v >>> 8) & 0xff) << 16) | (((v >>> 16) & 0xff) << 8) | ((v >>> 24) & 0xff)) >>> 0;
}

export class EgressRoutes {
  #local = new Set<number>();
  #routes: Route[] = [];
  #ifindex = new Map<string, number>();
  #physical = new Set<number>();

  constructor() {
    this.refresh();
  }

  refresh(): void {
    const local = new Set<number>();
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) if (a.family === 'IPv4') local.add(ipv4ToInt(a.address));
    }
    this.#local = local;
    const routes: Route[] = [];
    let table = '';
    try {
      table = readFileSync('/proc/net/route', 'utf8');
    } catch {
      // no procfs: only local destinations are offloaded
    }
    for (const line of table.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      routes.push({ ifname: f[0], network: procHex(f[1]), mask: procHex(f[7]) });
    }
    routes.sort((a, b) => popcount(b.mask) - popcount(a.mask));
    this.#routes = routes;
    this.#ifindex.clear();
    this.#physical.clear();
  }

  /**
   * Whether an egress (from egressOf) is a physical device (one with a /sys/class/net/X/device: a NIC, virtio),
   * which computes offloaded checksums itself; 0 (local), lo, veth and bridges are not.
   */
  isPhysical(ifindex: number): boolean {
    return ifindex !== 0 && this.#physical.has(ifindex);
  }

  /** 0 = local, an ifindex, or undefined (no route). */
  egressOf(address: string): number | undefined {
    const ip = ipv4ToInt(address);
    if (this.#local.has(ip) || ip >>> 24 === 127) return 0;
    for (const r of this.#routes) {
      if (((ip & r.mask) >>> 0) === r.network) return this.#indexOf(r.ifname);
    }
    return undefined;
  }

  #indexOf(ifname: string): number | undefined {
    let index = this.#ifindex.get(ifname);
    if (index === undefined) {
      try {
        index = Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
      } catch {
        return undefined;
      }
      this.#ifindex.set(ifname, index);
      if (existsSync(`/sys/class/net/${ifname}/device`)) this.#physical.add(index);
    }
    return index;
  }
}

function popcount(v: number): number {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x >>>= 1) n += x & 1;
  return n;
}

/** The interface holding an IPv4 address (127/8 → the one holding 127.0.0.1), or undefined. */
export function interfaceOf(address: string): string | undefined {
  const ip = ipv4ToInt(address);
  const wanted = ip >>> 24 === 127 ? ipv4ToInt('127.0.0.1') : ip;
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && ipv4ToInt(a.address) === wanted) return name;
  }
  return undefined;
}
