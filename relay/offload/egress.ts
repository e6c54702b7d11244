/**
 * Where a datagram the kernel fast path rewrites must go: 0 when the destination is an address of this host (the
 * stack delivers it), else the ifindex of the interface the main routing table names (longest prefix of
 * /proc/net/route or /proc/net/ipv6_route; the kernel resolves the next hop and neighbour itself). undefined: no
 * route, the flow stays in userspace. Read once and on refresh() (the offload's sweep), never per packet or per
 * binding.
 */
import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { parseIPv4, parseIPv6 } from '../../src/stun/index.js';

interface Route {
  network: bigint;
  mask: bigint;
  ifname: string;
}

/** An IP literal as a number (IPv4: 32 bits, IPv6: 128 bits); undefined when malformed. */
export function ipToBigInt(address: string): bigint | undefined {
  const v6 = address.includes(':');
  const bytes = new Uint8Array(v6 ? 16 : 4);
  if (!(v6 ? parseIPv6(address, bytes) : parseIPv4(address, bytes))) return undefined;
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function maskOf(prefix: number, bits: number): bigint {
  return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

/** /proc/net/route holds IPv4 addresses as host-order (little-endian) hex of the network-order bytes. */
function procHex4(hex: string): bigint {
  const v = parseInt(hex, 16);
  return BigInt((((v & 0xff) << 24) | (((v >>> 8) & 0xff) << 16) | (((v >>> 16) & 0xff) << 8) | ((v >>> 24) & 0xff)) >>> 0);
}

function readProc(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n');
  } catch {
    return []; // no procfs (or no IPv6): only local destinations are offloaded
  }
}

function popcount(v: bigint): number {
  let n = 0;
  for (let x = v; x !== 0n; x >>= 1n) n += Number(x & 1n);
  return n;
}

export class EgressRoutes {
  #local = { 4: new Set<bigint>(), 6: new Set<bigint>() };
  #routes: { 4: Route[]; 6: Route[] } = { 4: [], 6: [] };
  #ifindex = new Map<string, number>();
  #physical = new Set<number>();

  constructor() {
    this.refresh();
  }

  refresh(): void {
    const local = { 4: new Set<bigint>(), 6: new Set<bigint>([ipToBigInt('::1')!]) };
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) {
        const n = ipToBigInt(a.address);
        if (n !== undefined) local[a.family === 'IPv4' ? 4 : 6].add(n);
      }
    }
    this.#local = local;
    const v4: Route[] = [];
    for (const line of readProc('/proc/net/route').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      v4.push({ ifname: f[0], network: procHex4(f[1]), mask: procHex4(f[7]) });
    }
    const v6: Route[] = [];
    for (const line of readProc('/proc/net/ipv6_route')) {
      const f = line.trim().split(/\s+/);
      // dest plen src splen nexthop metric refcnt use flags ifname; `lo` holds local and unreachable routes
      if (f.length < 10 || f[9] === 'lo') continue;
      const prefix = parseInt(f[1], 16);
      v6.push({ ifname: f[9], network: BigInt(`0x${f[0]}`), mask: maskOf(prefix, 128) });
    }
    const longestFirst = (a: Route, b: Route) => popcount(b.mask) - popcount(a.mask);
    this.#routes = { 4: v4.sort(longestFirst), 6: v6.sort(longestFirst) };
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
    const family = address.includes(':') ? 6 : 4;
    const ip = ipToBigInt(address);
    if (ip === undefined) return undefined;
    if (this.#local[family].has(ip) || (family === 4 && ip >> 24n === 127n)) return 0;
    for (const r of this.#routes[family]) {
      if ((ip & r.mask) === r.network) return this.#indexOf(r.ifname);
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

/** The interface holding an address (127/8 → the one holding 127.0.0.1), or undefined. */
export function interfaceOf(address: string): string | undefined {
  let wanted = ipToBigInt(address);
  if (wanted === undefined) return undefined;
  if (!address.includes(':') && wanted >> 24n === 127n) wanted = ipToBigInt('127.0.0.1');
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) if (ipToBigInt(a.address) === wanted) return name;
  }
  return undefined;
}
