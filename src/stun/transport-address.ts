/**
 * TransportAddress (RFC 8489 §3: an IP address and a port) and the text <-> bytes conversion of IP addresses
 * used by the address attributes. Addresses are kept in Node's textual form (the form `dgram` reports in
 * `rinfo.address`): dotted quad for IPv4, RFC 5952-style compressed lowercase for IPv6 (libuv's inet_ntop,
 * including the `::ffff:a.b.c.d` form of IPv4-mapped addresses).
 */

export interface TransportAddress {
  family: 4 | 6;
  /** Node's textual form, e.g. `192.0.2.1` or `2001:db8::1`. */
  address: string;
  port: number;
}

/** True when both name the same family, address text and port. */
export function sameTransportAddress(a: TransportAddress, b: TransportAddress): boolean {
  return a.port === b.port && a.family === b.family && a.address === b.address;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** Parses `a.b.c.d` between `start` and `end` of `s` into 4 bytes at `out[off]`. False when malformed. */
function parseIPv4Range(s: string, start: number, end: number, out: Uint8Array, off: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      value = value * 10 + (c - 48);
      digits++;
      if (digits > 3 || value > 255) return false;
    } else if (c === 46 /* . */) {
      if (digits === 0 || part === 3) return false;
      out[off + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  if (digits === 0 || part !== 3) return false;
  out[off + 3] = value;
  return true;
}

/** Writes the 4 bytes of a dotted-quad IPv4 address at `out[off]`. False (nothing useful written) when malformed. */
export function parseIPv4(s: string, out: Uint8Array, off = 0): boolean {
  return parseIPv4Range(s, 0, s.length, out, off);
}

const words = new Uint16Array(8);
const v4tail = new Uint8Array(4);

/**
 * Writes the 16 bytes of an IPv6 address (with optional `::`, embedded IPv4 tail and `%zone`, which is ignored)
 * at `out[off]`. False when malformed.
 */
export function parseIPv6(s: string, out: Uint8Array, off = 0): boolean {
  let end = s.indexOf('%');
  if (end < 0) end = s.length;
  if (end < 2) return false;
  let i = 0;
  let w = 0;
  let gap = -1;
  if (s.charCodeAt(0) === 58 /* : */) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    const start = i;
    let v = 0;
    let n = 0;
    let h: number;
    while (i < end && (h = hexValue(s.charCodeAt(i))) >= 0) {
      v = v * 16 + h;
      n++;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46 /* . */) {
      if (w > 6 || !parseIPv4Range(s, start, end, v4tail, 0)) return false;
      words[w++] = (v4tail[0] << 8) | v4tail[1];
      words[w++] = (v4tail[2] << 8) | v4tail[3];
      i = end;
      break;
    }
    if (n === 0 || n > 4 || w >= 8) return false;
    words[w++] = v;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = w;
      i++;
    } else if (i === end) {
      return false; // a single trailing colon
    }
  }
  if (gap < 0) {
    if (w !== 8) return false;
  } else {
    if (w > 7) return false;
    const tail = w - gap;
    for (let k = 0; k < tail; k++) words[7 - k] = words[w - 1 - k];
    for (let k = gap; k < 8 - tail; k++) words[k] = 0;
  }
  for (let k = 0; k < 8; k++) {
    out[off + 2 * k] = words[k] >> 8;
    out[off + 2 * k + 1] = words[k] & 0xff;
  }
  return true;
}

/** Dotted quad of the 4 bytes at `buf[off]`. */
export function formatIPv4(buf: Uint8Array, off = 0): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** Node's (libuv inet_ntop) textual form of the 16 bytes at `buf[off]`. */
export function formatIPv6(buf: Uint8Array, off = 0): string {
  for (let k = 0; k < 8; k++) words[k] = (buf[off + 2 * k] << 8) | buf[off + 2 * k + 1];
  // Longest run of zero words (first one on a tie); only runs of 2 or more are compressed.
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let k = 0; k < 8; k++) {
    if (words[k] === 0) {
      if (curBase < 0) {
        curBase = k;
        curLen = 1;
      } else {
        curLen++;
      }
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
    } else {
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  let out = '';
  for (let k = 0; k < 8; k++) {
    if (bestBase >= 0 && k >= bestBase && k < bestBase + bestLen) {
      if (k === bestBase) out += ':';
      continue;
    }
    if (k !== 0) out += ':';
    if (k === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += formatIPv4(buf, off + 12);
      return out;
    }
    out += words[k].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) out += ':';
  return out;
}
