import { isIP, SocketAddress } from 'node:net';

/**
 * An inclusive address range `FIRST-LAST` (coturn's `denied-peer-ip=10.0.0.1-10.0.0.40`) as the fewest CIDR blocks
 * that cover exactly it, so that the rest of the relay only ever sees CIDRs. Undefined when `text` is not two
 * addresses of one family with FIRST <= LAST.
 */
export function rangeToCidrs(text: string): string[] | undefined {
  const dash = text.indexOf('-');
  if (dash < 0) return undefined;
  const first = text.slice(0, dash).trim();
  const last = text.slice(dash + 1).trim();
  const family = isIP(first);
  if (family === 0 || isIP(last) !== family) return undefined;
  const bits = family === 4 ? 32 : 128;
  let lo = toBigInt(first, family);
  const hi = toBigInt(last, family);
  if (lo > hi) return undefined;
  const out: string[] = [];
  while (lo <= hi) {
    // The largest block that starts at lo (aligned) and does not pass hi.
    let size = 0;
    while (size < bits && (lo & ((1n << BigInt(size + 1)) - 1n)) === 0n && lo + (1n << BigInt(size + 1)) - 1n <= hi) size++;
    out.push(`${fromBigInt(lo, family)}/${bits - size}`);
    lo += 1n << BigInt(size);
  }
  return out;
}

function toBigInt(ip: string, family: number): bigint {
  if (family === 4) return ip.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two 16-bit groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(ip)?.[1];
  const text = v4 === undefined ? ip : ip.slice(0, -v4.length) + v4ToGroups(v4);
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const zeros = tail === undefined ? [] : Array<string>(8 - groups(head).length - groups(tail).length).fill('0');
  return [...groups(head), ...zeros, ...groups(tail)].reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function v4ToGroups(v4: string): string {
  const v = toBigInt(v4, 4);
  return `${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
}

function fromBigInt(v: bigint, family: number): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((v >> s) & 0xffffn).toString(16));
  return new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}
