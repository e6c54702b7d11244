import { randomBytes } from 'node:crypto';
import { isIP, SocketAddress } from 'node:net';
import { hostname } from 'node:os';
import { z } from 'zod';
import { AnyturnError } from '../errors.js';
import {
  count, hexKey, hostPort, ipAddress, isLoopback, isWildcard, list, multicastGroup, name, parseHostPort, peerBlocks, port,
  redisUrl, specificIpAddress, text, userPass, type HostPort, type StaticUser,
} from './fields.js';
import { COTURN_FLAG_ALIASES, withCoturnAliases } from './coturn-aliases.js';
import { RELAY_DEFAULTS } from './defaults.js';
import { formatUsage, parseFlags, type FlagsSpec } from './flags.js';
import { loadConfig } from './load.js';
import { checkStartable } from './startable.js';

/**
 * The relay's one configuration schema (`anyturn relay`). YAML keys are exactly the
 * flag names (kebab-case); the typed result is camelCase. docs/config.md documents
 * every key; a test checks that flags, schema and docs list the same keys.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** The anycast settings' values: the one declaration the config, the responder and the race delay share. */
export const REDIRECT_MODES = ['strict', 'fast'] as const;
export type RedirectMode = (typeof REDIRECT_MODES)[number];
export const RACE_MODES = ['race', 'single'] as const;
export type RaceMode = (typeof RACE_MODES)[number];
export const RACE_CURVES = ['linear', 'quadratic'] as const;
export type RaceCurve = (typeof RACE_CURVES)[number];
/** The eBPF kernel fast path for UDP ChannelData (relay/offload/offload-setup.ts). */
export type OffloadMode = 'auto' | 'on' | 'off';
/** How UDP sockets are read and written (relay/datagram/udp-io.ts). */
export const UDP_IO_MODES = ['auto', 'native', 'node'] as const;
export type UdpIoMode = (typeof UDP_IO_MODES)[number];

export const DEFAULT_TLS_PORT = 5349;
/** Administratively scoped (RFC 2365), link-local in practice: the race group messages carry TTL 1. */
export const DEFAULT_RACE_GROUP = '239.255.34.78:34780';

/** One `external-ip` entry, resolved: `public` is advertised in place of `private` (1:1 NAT, coturn's external-ip). */
export interface ExternalIp {
  public: string;
  /** A relay-ip or listen address of this host. */
  private: string;
}

/** The validated, frozen relay configuration. */
export interface RelayConfig {
  /** Unicast addresses the STUN/TURN listeners bind (UDP, and TCP unless `tcp` is false). */
  listen: readonly string[];
  port: number;
  /** TCP listener on `port` beside UDP (`--no-tcp` disables). */
  tcp: boolean;
  /** TLS listener port; set only when tlsCert and tlsKey are (default 5349). */
  tlsPort: number | undefined;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  /** Addresses relayed transport addresses are allocated on (default: the listen addresses). */
  relayIp: readonly string[];
  /**
   * 1:1 NAT (`external-ip`): clients are told `public` (XOR-RELAYED-ADDRESS, ALTERNATE-SERVER, heartbeat, /status)
   * for the relay-ip / listen address `private`, which is still what is bound. Absent when none is configured.
   */
  externalIp?: readonly ExternalIp[];
  minPort: number;
  maxPort: number;
  realm: string;
  /** Static long-term users (a password, or coturn's hashed key `NAME:0xKEY`). */
  user: readonly StaticUser[];
  /** TURN REST API shared secrets (coturn static-auth-secret); several = rotation. */
  authSecret: readonly string[];
  /** Maximum live allocations on this relay. */
  capacity: number;
  /** Where /metrics, /healthz and /status are served; undefined = not served. */
  metrics: HostPort | undefined;
  /** Bearer token POST /drain, /undrain and /reload require; without one they answer only on a loopback `metrics`. */
  adminToken: string | undefined;
  id: string;
  pop: string;
  allowPeer: readonly string[];
  denyPeer: readonly string[];
  /** Anycast addresses (G) answered beside the unicast listeners. */
  anycast: readonly string[];
  redirect: RedirectMode;
  race: RaceMode;
  redis: string | undefined;
  /** Max allocations per username; 0 = unlimited. */
  userQuota: number;
  /** Max channel bindings per allocation (508 beyond). */
  channelQuota: number;
  /** Max channel bindings per username over all its allocations; 0 = unlimited (508 beyond). */
  userChannelQuota: number;
  /** RSS budget in bytes for the load score's memory component; 0 = only the V8 heap limit counts. */
  memoryBudget: number;
  /** Per-allocation bandwidth cap, bytes/s; 0 = none. */
  maxBps: number;
  /** Bytes/s the relay's link carries (load score). */
  linkCapacity: number;
  /** Race delay at full load, ms. */
  raceMaxDelay: number;
  raceCurve: RaceCurve;
  /** Multicast group of the PoP's race group (one answer per request on G); undefined = off. */
  raceGroup: HostPort | undefined;
  /** How much later each next-ranked relay of the race group answers, ms. */
  raceStep: number;
  /** Unauthenticated answers per source address per second on anycast. */
  anycastRate: number;
  /** Byte budget of unauthenticated answers on anycast (answer-budget.ts), bytes; 0 = no budget. */
  anycastBudget: number;
  /** Kernel receive and send buffer of each UDP listener socket, bytes (capped by net.core.rmem_max/wmem_max). */
  udpBuffer: number;
  /** TCP/TLS connections in all; 0 = derived from RLIMIT_NOFILE and capacity (relay/listen/fd-limit.ts). */
  streamMaxConnections: number;
  /** TCP/TLS connections from one source address (IPv6: one /64). */
  streamMaxPerSource: number;
  /** Bytes of partial messages all TCP/TLS connections may hold together. */
  streamBufferBudget: number;
  /** ms: the first complete message after connecting, and each message after its first byte. */
  streamRequestTimeout: number;
  /** eBPF kernel fast path for UDP ChannelData: where possible (auto), required (on), never (off). */
  offload: OffloadMode;
  udpIo: UdpIoMode;
  logLevel: LogLevel;
  /** SOFTWARE attribute text; empty = no SOFTWARE attribute. */
  software: string;
  /** Longest allocation lifetime granted, seconds. */
  lifetimeMax: number;
  nonceTtl: number;
  /** Fleet nonce key (a random one per process when not configured). */
  nonceKey: Buffer;
  /** Set (true) when `nonce-key` was configured; otherwise a Redis cluster store supplies the fleet key. */
  nonceKeyGiven?: true;
  /** Overlay addresses (relay-to-relay over the private network), one per path; empty = no overlay. */
  overlay: readonly HostPort[];
  /** Users whose relayed packets go over every overlay path ('*' = everyone; REST names match after the ':'). */
  overlayDuplicate: readonly string[];
  /** Other PoPs by distance (smaller is nearer): where a full PoP sends new clients. Empty = no overflow. */
  popDistance: readonly { pop: string; distance: number }[];
  /** Hot spare: silent on G until the PoP's other relays reach standbyThreshold (mean load). */
  standby: boolean;
  standbyThreshold: number;
  standbyHysteresis: number;
  /** Per-tenant egress: which relay-ip a user's allocations get ('*' = everyone else). Empty = rotation. */
  egress: readonly { user: string; address: string }[];
  /** This host's uplinks: the relay-ip bound to each uplink name of the cluster's egress table. */
  uplink: readonly { name: string; address: string }[];
}

/** Flag spec of `anyturn relay`: the names are a contract (scripts, Ansible role, docs). */
export const RELAY_FLAGS = {
  config: { type: 'string', arg: 'FILE', help: 'YAML file with the same keys; flags override it' },
  listen: { type: 'string', repeatable: true, arg: 'IP', help: 'unicast listen address (default 127.0.0.1)' },
  port: { type: 'number', arg: 'N', help: 'STUN/TURN port, UDP and TCP (default 3478)' },
  tcp: { type: 'boolean', help: 'TCP listener on --port (default on; --no-tcp disables)' },
  'tls-port': { type: 'number', arg: 'N', help: 'TLS port (default 5349 when --tls-cert/--tls-key are given)' },
  'tls-cert': { type: 'string', arg: 'FILE', help: 'TLS certificate chain (PEM)' },
  'tls-key': { type: 'string', arg: 'FILE', help: 'TLS private key (PEM)' },
  'relay-ip': { type: 'string', repeatable: true, arg: 'IP', help: 'address relayed ports are taken on (default: --listen)' },
  'external-ip': { type: 'string', repeatable: true, arg: 'PUBLIC[/PRIVATE]', help: '1:1 NAT: advertise PUBLIC for relay/listen address PRIVATE' },
  'min-port': { type: 'number', arg: 'N', help: 'lowest relay port (default 49152)' },
  'max-port': { type: 'number', arg: 'N', help: 'highest relay port (default 65535)' },
  realm: { type: 'string', arg: 'R', help: 'REALM (default anyturn)' },
  user: { type: 'string', repeatable: true, arg: 'NAME:PASS', help: 'static long-term user' },
  'auth-secret': { type: 'string', repeatable: true, arg: 'S', help: 'TURN REST API shared secret (several = rotation)' },
  capacity: { type: 'number', arg: 'N', help: 'maximum allocations (default 10000)' },
  metrics: { type: 'string', arg: 'IP:PORT', help: 'serve /metrics, /healthz, /status, /cluster and the live page (/) here' },
  'admin-token': { type: 'string', arg: 'TOKEN', help: 'bearer token for POST /drain, /undrain, /reload (without: loopback --metrics only)' },
  id: { type: 'string', arg: 'NAME', help: 'relay id (default: host name)' },
  pop: { type: 'string', arg: 'NAME', help: 'PoP name (default "default")' },
  'allow-peer': { type: 'string', repeatable: true, arg: 'CIDR', help: 'allow peers here despite the default deny list' },
  'deny-peer': { type: 'string', repeatable: true, arg: 'CIDR', help: 'refuse peers here' },
  anycast: { type: 'string', repeatable: true, arg: 'IP', help: 'anycast address G answered with 300 redirects' },
  redirect: { type: 'string', arg: 'strict|fast', help: 'anycast Allocate: 401 then 300 (strict) or 300 at once (fast)' },
  race: { type: 'string', arg: 'race|single', help: 'every relay races (race) or one is chosen by hashing (single)' },
  redis: { type: 'string', arg: 'URL', help: 'cluster store (default: embedded, no Redis)' },
  'user-quota': { type: 'number', arg: 'N', help: 'allocations per username (default 0 = unlimited)' },
  'channel-quota': { type: 'number', arg: 'N', help: 'channel bindings per allocation (default 1000)' },
  'user-channel-quota': { type: 'number', arg: 'N', help: 'channel bindings per username (default 0 = unlimited)' },
  'memory-budget': { type: 'number', arg: 'BYTES', help: 'RSS the load score counts as full (default 0 = V8 heap limit only)' },
  'max-bps': { type: 'number', arg: 'N', help: 'bandwidth cap per allocation, bytes/s (default 0 = none)' },
  'link-capacity': { type: 'number', arg: 'N', help: 'link bytes/s for the load score (default 125000000)' },
  'race-max-delay': { type: 'number', arg: 'MS', help: 'race delay at full load (default 100)' },
  'race-curve': { type: 'string', arg: 'linear|quadratic', help: 'delay vs load (default linear)' },
  'race-group': { type: 'string', arg: 'GROUP:PORT|off', help: `PoP race group, IPv4 multicast (default ${DEFAULT_RACE_GROUP})` },
  'race-step': { type: 'number', arg: 'MS', help: 'delay between ranked answers in the race group (default 50)' },
  'anycast-rate': { type: 'number', arg: 'N', help: 'unauthenticated anycast answers per source per second (default 10)' },
  'anycast-budget': { type: 'number', arg: 'BYTES', help: 'byte budget of unauthenticated anycast answers (default 2048; 0 = none)' },
  'udp-buffer': { type: 'number', arg: 'BYTES', help: 'UDP listener socket buffers (default 4194304; capped by net.core.rmem_max)' },
  'stream-max-connections': { type: 'number', arg: 'N', help: 'TCP/TLS connections in all (default 0 = from the fd limit)' },
  'stream-max-per-source': { type: 'number', arg: 'N', help: 'TCP/TLS connections per source IP or IPv6 /64 (default 256)' },
  'stream-buffer-budget': { type: 'number', arg: 'BYTES', help: 'partial-message bytes all TCP/TLS connections hold (default 67108864)' },
  'stream-request-timeout': { type: 'number', arg: 'MS', help: 'first request and each message complete within (default 10000)' },
  offload: { type: 'string', arg: 'auto|on|off', help: 'eBPF kernel fast path for UDP ChannelData (default auto)' },
  'udp-io': { type: 'string', arg: 'auto|native|node', help: 'UDP socket I/O: native engine (recvmmsg) or Node dgram (default auto)' },
  'log-level': { type: 'string', arg: 'LEVEL', help: `${LOG_LEVELS.join('|')} (default info)` },
  software: { type: 'string', arg: 'TEXT', help: 'SOFTWARE attribute (default anyturn; empty = none)' },
  'lifetime-max': { type: 'number', arg: 'SECONDS', help: 'longest allocation lifetime (default 3600)' },
  'nonce-ttl': { type: 'number', arg: 'SECONDS', help: 'nonce lifetime (default 600)' },
  'nonce-key': { type: 'string', arg: 'HEX', help: 'fleet nonce key, >= 16 bytes (default: random per process)' },
  overlay: { type: 'string', repeatable: true, arg: 'IP:PORT', help: 'overlay address on the private network, one per path (default: none)' },
  'overlay-duplicate': { type: 'string', repeatable: true, arg: 'USER|*', help: 'send these users\' packets over every overlay path' },
  'pop-distance': { type: 'string', repeatable: true, arg: 'POP=N', help: 'a full PoP refers new clients to the nearest PoP listed here' },
  standby: { type: 'boolean', help: 'hot spare: silent on the anycast address until the PoP\'s other relays are loaded' },
  'standby-threshold': { type: 'number', arg: 'LOAD', help: 'mean load of the other relays at which a --standby relay joins (default 0.8)' },
  'standby-hysteresis': { type: 'number', arg: 'LOAD', help: 'it leaves again below threshold minus this (default 0.2)' },
  egress: { type: 'string', repeatable: true, arg: 'USER=IP', help: 'per-tenant egress: USER\'s allocations get relay-ip IP (* = everyone else)' },
  uplink: { type: 'string', repeatable: true, arg: 'NAME=IP', help: 'relay-ip IP leaves by uplink NAME (for the cluster egress table)' },
} as const satisfies FlagsSpec;

export const RELAY_USAGE = `${formatUsage('anyturn relay [--config FILE] [flags]', RELAY_FLAGS)}
coturn's names are accepted too: ${Object.entries(COTURN_FLAG_ALIASES).map(([c, a]) => `--${c} (--${a})`).join(', ')}
`;

/** The file/flag form (kebab-case keys) – what the user wrote, with defaults. */
export const RelayFileSchema = z.strictObject({
  listen: list(ipAddress()).pipe(z.array(z.string()).min(1)).default(['127.0.0.1']),
  port: port().default(3478),
  tcp: z.boolean().default(true),
  'tls-port': port().optional(),
  'tls-cert': text().optional(),
  'tls-key': text().optional(),
  'relay-ip': list(specificIpAddress()).pipe(z.array(z.string()).min(1)).optional(),
  'external-ip': list(externalIpEntry()).default([]),
  'min-port': port().default(RELAY_DEFAULTS.minPort),
  'max-port': port().default(RELAY_DEFAULTS.maxPort),
  realm: text().max(127).default(RELAY_DEFAULTS.realm),
  user: list(userPass()).default([]),
  'auth-secret': list(text()).default([]),
  capacity: count(1).default(RELAY_DEFAULTS.capacity),
  metrics: hostPort().optional(),
  'admin-token': z.string().min(16, 'must be at least 16 characters').optional(),
  id: name().default(defaultId),
  pop: name().default('default'),
  'allow-peer': peerBlocks().default([]),
  'deny-peer': peerBlocks().default([]),
  anycast: list(specificIpAddress()).default([]),
  redirect: z.enum(REDIRECT_MODES).default('strict'),
  race: z.enum(RACE_MODES).default('race'),
  redis: redisUrl().optional(),
  'user-quota': count(0).default(RELAY_DEFAULTS.userQuota),
  'channel-quota': count(1).default(1000),
  'user-channel-quota': count(0).default(0),
  'memory-budget': count(0).default(0),
  'max-bps': count(0).default(RELAY_DEFAULTS.maxBps),
  'link-capacity': count(1).default(125_000_000),
  'race-max-delay': count(0).default(100),
  'race-curve': z.enum(RACE_CURVES).default('linear'),
  'race-group': z.union([z.literal('off'), multicastGroup()]).default(DEFAULT_RACE_GROUP),
  'race-step': count(1).default(50),
  'anycast-rate': z.number().positive().default(10),
  'anycast-budget': count(0).default(2048),
  'udp-buffer': count(65536).default(4 * 1024 * 1024),
  'stream-max-connections': count(0).default(0),
  'stream-max-per-source': count(1).default(256),
  'stream-buffer-budget': count(65_540).default(64 * 1024 * 1024),
  'stream-request-timeout': count(100).default(10_000),
  offload: z.enum(['auto', 'on', 'off']).default('auto'),
  'udp-io': z.enum(UDP_IO_MODES).default('auto'),
  'log-level': z.enum(LOG_LEVELS).default('info'),
  software: z.string().max(127).default(RELAY_DEFAULTS.software),
  'lifetime-max': count(1).default(RELAY_DEFAULTS.lifetimeMaxSeconds),
  'nonce-ttl': count(1).default(600),
  'nonce-key': hexKey(16).optional(),
  overlay: list(hostPort()).pipe(z.array(z.object({ address: z.string(), port: z.number() })).max(4)).default([]),
  'overlay-duplicate': list(text().max(256)).default([]),
  'pop-distance': list(popDistance()).default([]),
  standby: z.boolean().default(false),
  'standby-threshold': z.number().gt(0).max(1).default(0.8),
  'standby-hysteresis': z.number().min(0).lt(1).default(0.2),
  egress: list(egressEntry()).default([]),
  uplink: list(uplinkEntry()).default([]),
});

/** `NAME=IP`: an uplink name (as in the cluster's egress table) and the relay IP bound to it. */
function uplinkEntry() {
  return z.string().transform((s, ctx): { name: string; address: string } => {
    const eq = s.indexOf('=');
    const name = s.slice(0, eq);
    const address = s.slice(eq + 1);
    if (eq < 1 || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name) || isIP(address) === 0) {
      ctx.addIssue({ code: 'custom', message: 'must be NAME=IP (an uplink name and one of the relay-ip addresses)', input: s });
      return z.NEVER;
    }
    return { name, address: canonicalIp(address) };
  });
}

/** `USER=IP`: a tenant (or '*') and one of the relay IPs. */
function egressEntry() {
  return z.string().transform((s, ctx): { user: string; address: string } => {
    const eq = s.lastIndexOf('=');
    const user = s.slice(0, eq);
    const address = s.slice(eq + 1);
    if (eq < 1 || isIP(address) === 0) {
      ctx.addIssue({ code: 'custom', message: 'must be USER=IP (a user name or *, and one of the relay-ip addresses)', input: s });
      return z.NEVER;
    }
    return { user, address: canonicalIp(address) };
  });
}

/** `POP=N`: a PoP name and its distance (a number >= 0). */
function popDistance() {
  return z.string().transform((s, ctx): { pop: string; distance: number } => {
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})=(\d+(?:\.\d+)?)$/.exec(s);
    if (m === null) {
      ctx.addIssue({ code: 'custom', message: 'must be POP=DISTANCE (a PoP name and a number >= 0, e.g. fra1=10)', input: s });
      return z.NEVER;
    }
    return { pop: m[1], distance: Number(m[2]) };
  });
}
type RelayFile = z.output<typeof RelayFileSchema>;

/** `PUBLIC` or `PUBLIC/PRIVATE`: specific addresses of one family (PRIVATE is resolved in toRelayConfig). */
function externalIpEntry() {
  return z.string().transform((s, ctx): { public: string; private: string | undefined } => {
    const slash = s.indexOf('/');
    const pub = slash < 0 ? s : s.slice(0, slash);
    const priv = slash < 0 ? undefined : s.slice(slash + 1);
    const fail = (message: string) => {
      ctx.addIssue({ code: 'custom', message, input: s });
      return z.NEVER;
    };
    if (isIP(pub) === 0 || (priv !== undefined && isIP(priv) === 0)) {
      return fail('must be PUBLIC or PUBLIC/PRIVATE (IP addresses, e.g. 203.0.113.10/10.0.0.5)');
    }
    if (isWildcard(pub) || (priv !== undefined && isWildcard(priv))) return fail('must name specific addresses, not 0.0.0.0 or ::');
    if (isLoopback(pub)) return fail(`PUBLIC ${pub} is a loopback address: no client elsewhere can reach it`);
    if (priv !== undefined && isIP(pub) !== isIP(priv)) return fail(`${pub} and ${priv} are not of the same address family`);
    return { public: canonicalIp(pub), private: priv === undefined ? undefined : canonicalIp(priv) };
  });
}

/** One spelling per address (IPv6 as Node prints it), so that mappings compare with relay-ip and listen. */
function canonicalIp(ip: string): string {
  try {
    return isIP(ip) === 6 ? new SocketAddress({ address: ip, family: 'ipv6' }).address : ip;
  } catch {
    return ip;
  }
}

/** The relay-ip addresses (default: listen) of an address's family. */
function relayIpsLike(c: RelayFile, ip: string): string[] {
  const relayIp = c['relay-ip'] ?? c.listen;
  return (Array.isArray(relayIp) ? relayIp : []).filter((r) => isIP(r) === isIP(ip));
}

/** external-ip entries with PRIVATE filled in where it can be: a bare PUBLIC maps the one relay-ip of its family. */
function resolveExternalIp(c: RelayFile): { public: string; private: string | undefined }[] {
  return (c['external-ip'] ?? []).map((e) => {
    if (e.private !== undefined) return e;
    const same = relayIpsLike(c, e.public);
    return { public: e.public, private: same.length === 1 ? canonicalIp(same[0]) : undefined };
  });
}

/** The host name, cut to a valid id. */
function defaultId(): string {
  const id = hostname().split('.')[0].replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return id === '' ? 'relay' : id;
}

/** Rules between keys; paths name the key the operator should change. */
function crossCheck(c: RelayFile, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (typeof c['min-port'] === 'number' && typeof c['max-port'] === 'number' && c['max-port'] < c['min-port']) {
    issue(['max-port'], 'must be >= min-port');
  }
  const cert = c['tls-cert'] !== undefined;
  const key = c['tls-key'] !== undefined;
  if (cert && !key) issue(['tls-key'], 'is required when tls-cert is given');
  if (key && !cert) issue(['tls-cert'], 'is required when tls-key is given');
  if (c['tls-port'] !== undefined && !(cert && key)) issue(['tls-port'], 'needs tls-cert and tls-key');
  if (cert && key && c.tcp && (c['tls-port'] ?? DEFAULT_TLS_PORT) === c.port) {
    issue(['tls-port'], 'must differ from port (the TCP listener uses it)');
  }
  const listen = Array.isArray(c.listen) ? c.listen : [];
  if (c['relay-ip'] === undefined && listen.some(isWildcard)) {
    issue(['relay-ip'], 'is required when listen is 0.0.0.0 or :: (relayed addresses must be specific)');
  }
  listen.forEach((ip, i) => {
    if (listen.indexOf(ip) !== i) issue(['listen', i], `duplicate address ${ip}`);
  });
  (c.anycast ?? []).forEach((g, i) => {
    if (listen.includes(g)) issue(['anycast', i], `${g} is also a listen address`);
  });
  checkExternalIp(c, issue);
  checkStartable({
    listen: Array.isArray(c.listen) ? c.listen : [],
    relayIp: c['relay-ip'],
    port: c.port,
    minPort: c['min-port'],
    maxPort: c['max-port'],
    anycast: c.anycast ?? [],
    race: c.race,
    redis: c.redis !== undefined,
    nonceKey: c['nonce-key'] !== undefined,
    mappedPrivates: new Set(resolveExternalIp(c).map((e) => e.private).filter((ip): ip is string => ip !== undefined)),
  }, issue);
  const relayIps = (c['relay-ip'] ?? listen).map((ip) => canonicalIp(ip));
  (c.egress ?? []).forEach((e, i, all) => {
    if (!relayIps.includes(e.address)) issue(['egress', i], `${e.address} is not a relay-ip address`);
    const family = isIP(e.address);
    if (all.findIndex((o) => o.user === e.user && isIP(o.address) === family) !== i) issue(['egress', i], `${e.user} has two IPv${family} entries`);
  });
  (c.uplink ?? []).forEach((u, i) => {
    if (!relayIps.includes(u.address)) issue(['uplink', i], `${u.address} is not a relay-ip address`);
  });
  (c['pop-distance'] ?? []).forEach((d, i, all) => {
    if (d.pop === c.pop) issue(['pop-distance', i], `${d.pop} is this relay's own PoP`);
    if (all.findIndex((e) => e.pop === d.pop) !== i) issue(['pop-distance', i], `${d.pop} is listed twice`);
  });
  if (typeof c['standby-hysteresis'] === 'number' && typeof c['standby-threshold'] === 'number' && c['standby-hysteresis'] >= c['standby-threshold']) {
    issue(['standby-hysteresis'], 'must be below standby-threshold');
  }
  (c.overlay ?? []).forEach((o, i, all) => {
    if (isWildcard(o.address)) issue(['overlay', i], 'must be a specific address, not 0.0.0.0 or ::');
    if (all.findIndex((p) => p.address === o.address && p.port === o.port) !== i) issue(['overlay', i], 'duplicate overlay address');
  });
  if (c.offload === 'on' && typeof c['max-bps'] === 'number' && c['max-bps'] > 0) {
    issue(['offload'], 'on cannot be combined with max-bps (the bandwidth cap is enforced in userspace)');
  }
  const seen = new Set<string>();
  (c.user ?? []).forEach((u, i) => {
    if (u && typeof u === 'object') {
      if (seen.has(u.name)) issue(['user', i], `duplicate user '${u.name}'`);
      seen.add(u.name);
    }
  });
}

/**
 * external-ip: a bare PUBLIC needs exactly one relay-ip of its family; PRIVATE must be one of ours (a relay-ip or
 * listen address); each PRIVATE is mapped once, each PUBLIC names one PRIVATE and is not itself one of ours.
 */
function checkExternalIp(c: RelayFile, issue: (path: (string | number)[], message: string) => void): void {
  const ours = new Set([...(c['relay-ip'] ?? []), ...(Array.isArray(c.listen) ? c.listen : [])].filter((ip) => !isWildcard(ip)).map(canonicalIp));
  const byPrivate = new Map<string, number>();
  const byPublic = new Map<string, number>();
  resolveExternalIp(c).forEach(({ public: pub, private: priv }, i) => {
    const path = ['external-ip', i];
    if (priv === undefined) {
      const count = relayIpsLike(c, pub).length;
      const family = `IPv${isIP(pub)}`;
      issue(path, `${pub} needs /PRIVATE: ${count === 0 ? `there is no ${family} relay-ip` : `there are ${count} ${family} relay-ip addresses`}`);
      return;
    }
    if (!ours.has(priv)) {
      issue(path, `${priv} is neither a relay-ip nor a listen address`);
      return;
    }
    if (pub !== priv && ours.has(pub)) issue(path, `${pub} is itself a relay-ip or listen address`);
    const j = byPrivate.get(priv);
    if (j !== undefined) issue(path, `${priv} is already mapped by external-ip[${j}]`);
    else byPrivate.set(priv, i);
    const k = byPublic.get(pub);
    if (k !== undefined) issue(path, `${pub} is already advertised by external-ip[${k}]`);
    else byPublic.set(pub, i);
  });
}

function toRelayConfig(c: RelayFile): RelayConfig {
  // crossCheck refused every entry whose PRIVATE stays unresolved.
  const externalIp = resolveExternalIp(c).map((e): ExternalIp => ({ public: e.public, private: e.private as string }));
  const tls = c['tls-cert'] !== undefined && c['tls-key'] !== undefined;
  return {
    listen: c.listen,
    port: c.port,
    tcp: c.tcp,
    tlsPort: tls ? (c['tls-port'] ?? DEFAULT_TLS_PORT) : undefined,
    tlsCert: c['tls-cert'],
    tlsKey: c['tls-key'],
    relayIp: c['relay-ip'] ?? c.listen,
    ...(externalIp.length > 0 ? { externalIp } : {}),
    minPort: c['min-port'],
    maxPort: c['max-port'],
    realm: c.realm,
    user: c.user,
    authSecret: c['auth-secret'],
    capacity: c.capacity,
    metrics: c.metrics,
    adminToken: c['admin-token'],
    id: c.id,
    pop: c.pop,
    allowPeer: c['allow-peer'],
    denyPeer: c['deny-peer'],
    anycast: c.anycast,
    redirect: c.redirect,
    race: c.race,
    redis: c.redis,
    userQuota: c['user-quota'],
    channelQuota: c['channel-quota'],
    userChannelQuota: c['user-channel-quota'],
    memoryBudget: c['memory-budget'],
    maxBps: c['max-bps'],
    linkCapacity: c['link-capacity'],
    raceMaxDelay: c['race-max-delay'],
    raceCurve: c['race-curve'],
    raceGroup: c['race-group'] === 'off' ? undefined : (parseHostPort(c['race-group']) as HostPort),
    raceStep: c['race-step'],
    anycastRate: c['anycast-rate'],
    anycastBudget: c['anycast-budget'],
    udpBuffer: c['udp-buffer'],
    streamMaxConnections: c['stream-max-connections'],
    streamMaxPerSource: c['stream-max-per-source'],
    streamBufferBudget: c['stream-buffer-budget'],
    streamRequestTimeout: c['stream-request-timeout'],
    offload: c.offload,
    udpIo: c['udp-io'],
    logLevel: c['log-level'],
    software: c.software,
    lifetimeMax: c['lifetime-max'],
    nonceTtl: c['nonce-ttl'],
    nonceKey: c['nonce-key'] ?? randomBytes(32),
    ...(c['nonce-key'] !== undefined ? { nonceKeyGiven: true as const } : {}),
    overlay: c.overlay,
    overlayDuplicate: c['overlay-duplicate'],
    popDistance: c['pop-distance'],
    standby: c.standby,
    standbyThreshold: c['standby-threshold'],
    standbyHysteresis: c['standby-hysteresis'],
    egress: c.egress,
    uplink: c.uplink,
  };
}

/** Kebab-case input (file + flags) -> validated camelCase RelayConfig. */
export const RelayConfigSchema: z.ZodType<RelayConfig> = RelayFileSchema.superRefine(crossCheck).transform(toRelayConfig);

/**
 * `anyturn relay` argv -> frozen RelayConfig (--config FILE read first, flags on top).
 * Throws AnyturnError: ATN_ERR_CLI_USAGE (flags), ATN_ERR_CONFIG_FILE, ATN_ERR_CONFIG_INVALID.
 * Callers handle --help first (wantsHelp(argv) + RELAY_USAGE); here it is a usage error.
 */
export function loadRelayConfig(argv: string[]): RelayConfig {
  const { config, help, ...overrides } = parseFlags(withCoturnAliases(argv), RELAY_FLAGS);
  if (help) throw new AnyturnError('ATN_ERR_CLI_USAGE', RELAY_USAGE);
  return loadConfig(RelayConfigSchema, { file: config as string | undefined, overrides });
}
