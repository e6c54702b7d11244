/**
 * The peers of a deep-fuzz run: UDP sockets on one random loopback address (127.x.y.z, not 127.0.0.1), and the peer
 * policy that makes the relay refuse every other address. The fuzzers' relayed data can then only reach these
 * sockets, never another process on this machine.
 */
import dgram from 'node:dgram';
import { randomInt } from 'node:crypto';
import type { TransportAddress } from '../../src/stun/index.js';

export interface FuzzPeers {
  address: string;
  peers: TransportAddress[];
  sockets: dgram.Socket[];
  /** Datagrams the peers received. */
  received(): number;
  /** TurnOptions: allow exactly `address`, deny every other IPv4 address and IPv6 (0000::/8 is denied by default). */
  policy: { allowPeers: string[]; denyPeers: string[] };
  close(): Promise<void>;
}

/**
 * Every IPv6 address from 0100:: up. Not ::/0: a rule over ::/0 also holds IPv4-mapped addresses, and net.BlockList
 * judges IPv4 addresses by their mapped form, so it would refuse the peers too. The rest, 0000::/8 (::1, ::, the
 * mapped range), is refused by the default list or judged as IPv4.
 */
const IPV6_ABOVE_0100 = ['8000::/1', '4000::/2', '2000::/3', '1000::/4', '800::/5', '400::/6', '200::/7', '100::/8'];

export async function startFuzzPeers(count: number): Promise<FuzzPeers> {
  const address = `127.${100 + randomInt(100)}.${randomInt(256)}.${1 + randomInt(254)}`;
  let received = 0;
  const sockets: dgram.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const s = dgram.createSocket('udp4');
    s.on('message', () => void received++);
    await new Promise<void>((resolve) => s.bind(0, address, resolve));
    sockets.push(s);
  }
  return {
    address,
    peers: sockets.map((s) => ({ family: 4 as const, address, port: s.address().port })),
    sockets,
    received: () => received,
    policy: { allowPeers: [`${address}/32`], denyPeers: [...complementOf(address), ...IPV6_ABOVE_0100] },
    close: async () => {
      await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

/** The 32 CIDRs that cover every IPv4 address but `address`. */
export function complementOf(address: string): string[] {
  const n = address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const out: string[] = [];
  for (let bits = 1; bits <= 32; bits++) {
    const flipped = (n ^ 2 ** (32 - bits)) >>> 0;
    const network = Math.floor(flipped / 2 ** (32 - bits)) * 2 ** (32 - bits);
    out.push(`${[24, 16, 8, 0].map((s) => Math.floor(network / 2 ** s) % 256).join('.')}/${bits}`);
  }
  return out;
}
