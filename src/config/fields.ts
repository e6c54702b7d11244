import { isIP } from 'node:net';
import { z } from 'zod';
import { parseRedisUrl } from '../cluster/redis-url.js';

/**
 * Reusable zod field types for config schemas (relay, agent). Messages are written
 * to follow the key in an error: `listen[1]: not an IP address`.
 */

/** True for 0.0.0.0 and :: (any spelling): "every address", not one address. */
export function isWildcard(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return ip === '0.0.0.0';
  if (family === 6) return ip.replace(/[:0]/g, '') === '';
  return false;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback (::ffff:127.x.y.z). */
export function isLoopback(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return ip.startsWith('127.');
  if (family === 6) return ip.replace(/^[:0]*/, '') === '1' || /^::ffff:127\./i.test(ip);
  return false;
}

/** An IPv4 or IPv6 address (node:net isIP). */
export const ipAddress = () => z.string().refine((s) => isIP(s) !== 0, 'not an IP address');

/** An address that names one host (not 0.0.0.0 or ::). */
export const specificIpAddress = () =>
  ipAddress().refine((s) => !isWildcard(s), 'must be a specific address, not 0.0.0.0 or ::');

/** A port 1-65535. */
export const port = () => z.number().int().min(1).max(65535);

/** A whole number >= min. */
export const count = (min: number) => z.number().int().min(min);

/** A non-empty string. */
export const text = () => z.string().min(1);

/**
 * A list of `item`. A single scalar in YAML (`listen: 10.0.0.1`) is read as a list
 * of one, as a repeatable flag given once would be.
 */
export function list<T extends z.ZodType>(item: T) {
  return z.preprocess((v) => (typeof v === 'string' || typeof v === 'number' ? [v] : v), z.array(item));
}

/** An id used in keys, labels and logs: 1-63 of A-Z a-z 0-9 . _ - */
export const name = () =>
  z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)');

/** A CIDR block (`10.0.0.0/8`, `fc00::/7`); a bare address means the host (/32, /128). Normalised to `ip/len`. */
export const cidr = () =>
  z.string().transform((s, ctx) => {
    const parsed = parseCidr(s);
    if (parsed === undefined) {
      ctx.addIssue({ code: 'custom', message: 'not a CIDR block (e.g. 10.0.0.0/8 or fc00::/7)', input: s });
      return z.NEVER;
    }
    return `${parsed.address}/${parsed.prefix}`;
  });

export function parseCidr(s: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family: family as 4 | 6 };
  const prefixText = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: family as 4 | 6 };
}

/** True when no bit beyond the prefix length is set (`198.18.0.0/24`, not `198.18.0.1/24`). */
export function hostBitsClear(prefix: string): boolean {
  const p = parseCidr(prefix);
  if (p === undefined) return false;
  const bits = p.family === 4 ? 32 : 128;
  const value = addressValue(p.address, p.family);
  if (value === undefined) return false;
  const hostMask = (1n << BigInt(bits - p.prefix)) - 1n;
  return (value & hostMask) === 0n;
}

/** An IPv4/IPv6 address as an unsigned integer (undefined for a zone id or anything odd). */
function addressValue(address: string, family: 4 | 6): bigint | undefined {
  if (family === 4) return address.split('.').reduce((v, o) => (v << 8n) | BigInt(Number(o)), 0n);
  if (address.includes('%')) return undefined;
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = Number(addressValue(v4[1], 4));
    text = `${text.slice(0, v4.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const a = head === '' ? [] : head.split(':');
  const b = tail === undefined ? [] : tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? a : [...a, ...Array<string>(8 - a.length - b.length).fill('0'), ...b];
  if (groups.length !== 8) return undefined;
  return groups.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** A network in CIDR form whose host bits are clear (`10.0.0.0/8`, not the ambiguous `10.0.0.1/8`); normalised like cidr(). */
export const network = () =>
  cidr().refine(hostBitsClear, {
    error: (iss) => {
      const p = parseCidr(String(iss.input));
      const host = p === undefined ? '' : ` or ${p.address}/${p.family === 4 ? 32 : 128} for the one host`;
      return `${String(iss.input)} has host bits set: write the network address${host}`;
    },
  });

export interface HostPort {
  address: string;
  port: number;
}

/** `IP:PORT` or `[IPv6]:PORT` (port 1-65535) -> { address, port }. */
export const hostPort = () =>
  z.string().transform((s, ctx): HostPort => {
    const parsed = parseHostPort(s);
    if (parsed === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be IP:PORT or [IPv6]:PORT with a port 1-65535', input: s });
      return z.NEVER;
    }
    return parsed;
  });

/** `GROUP:PORT` with an IPv4 multicast GROUP (224.0.0.0/4), kept as text. */
export const multicastGroup = () =>
  z.string().refine((s) => {
    const parsed = parseHostPort(s);
    if (parsed === undefined || isIP(parsed.address) !== 4) return false;
    const first = Number(parsed.address.split('.')[0]);
    return first >= 224 && first <= 239;
  }, 'must be GROUP:PORT with an IPv4 multicast GROUP (224.0.0.0-239.255.255.255), or off');

export function parseHostPort(s: string): HostPort | undefined {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  if (!match) return undefined;
  const [, address, portText] = match;
  const p = Number(portText);
  if (isIP(address) === 0 || p < 1 || p > 65535) return undefined;
  if (s.startsWith('[') && isIP(address) !== 6) return undefined;
  return { address, port: p };
}

/** `NAME:PASS`, split on the first colon; both parts non-empty. */
export const userPass = () =>
  z.string().transform((s, ctx) => {
    const colon = s.indexOf(':');
    if (colon < 1 || colon === s.length - 1) {
      ctx.addIssue({ code: 'custom', message: 'must be NAME:PASS (both non-empty)', input: s });
      return z.NEVER;
    }
    return { name: s.slice(0, colon), password: s.slice(colon + 1) };
  });

/** A hex string of at least `minBytes` bytes -> Buffer. */
export const hexKey = (minBytes: number) =>
  z.string().transform((s, ctx) => {
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(s) || s.length < minBytes * 2) {
      ctx.addIssue({ code: 'custom', message: `must be hex, at least ${minBytes} bytes (${minBytes * 2} hex digits)`, input: '(hidden)' });
      return z.NEVER;
    }
    return Buffer.from(s, 'hex');
  });

/** A cluster store URL: redis://, rediss://, unix://, redis+sentinel://, redis+cluster:// (src/cluster/redis-url.ts). */
export const redisUrl = () =>
  z.string().refine((s) => {
    try {
      parseRedisUrl(s);
      return true;
    } catch {
      return false;
    }
  }, 'must be a cluster store URL (redis://, rediss://, unix://, redis+sentinel://, redis+cluster://)');
