import { hostname } from 'node:os';
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { AnyturnError } from '../errors.js';
import {
  cidr,
  count,
  hostBitsClear,
  hostPort,
  list,
  name,
  parseCidr,
  port,
  redisUrl,
  specificIpAddress,
  text,
  type HostPort,
} from './fields.js';
import { formatUsage, parseFlags, type FlagsSpec } from './flags.js';
import { loadConfig } from './load.js';
import { LOG_LEVELS, type LogLevel } from './schema.js';

/**
 * The router agent's configuration (`anyturn agent --config FILE`). YAML keys are
 * kebab-case like the relay's; the typed result is camelCase. Every kernel object
 * the agent creates carries `protocol` (routes, rules, nexthops, the neighbour entry),
 * lives in `table` or has a nexthop id in [nexthop-id-first, nexthop-id-last]:
 * that is how it knows which objects are its own.
 */

export interface AgentRelay {
  id: string;
  /** Unicast IPv4 LAN address: the TCP next hop and the health-probe target. */
  address: string;
  /** Unicast IPv6 LAN address (only with IPv6 anycast addresses). */
  address6: string | undefined;
  /** STUN port probed on `address`. */
  port: number;
}

/** One AS-path prepend step of the BGP policy (router-agent/policy.ts). */
export interface AgentPrependStep {
  /** Aggregate PoP load (0..1) at which the step starts. */
  load: number;
  /** AS-path prepends while in the step. */
  prepend: number;
}

/** The `bgp:` section: the agent drives BIRD 2 through its own include file. */
export interface AgentBgpConfig {
  /** BIRD's control socket (`bird -s`). */
  birdctlSocket: string;
  /** The include file the agent owns (the operator's bird.conf includes it). */
  includeFile: string;
  /** AS prepended to de-prefer the PoP (the router's own AS). */
  prependAs: number;
  /** Prefixes announced while the PoP takes traffic (default: each anycast address as a host route). */
  prefixes: readonly string[];
  /** Prefix of the BIRD symbols of the include file (`<name>_export()`, `<name>_route()`, `<name>_anycast4/6`). */
  symbolPrefix: string;
  /** The birdc binary. */
  birdc: string;
  steps: readonly AgentPrependStep[];
  hysteresis: number;
}

/** The validated, frozen agent configuration. */
export interface AgentConfig {
  pop: string;
  /** The PoP LAN interface (the bridge or port the relays sit on). */
  lanInterface: string;
  /** Fake on-link IPv4 next hop whose neighbour entry is ff:ff:ff:ff:ff:ff. */
  broadcastNextHop: string;
  /** Same for IPv6 (required when an anycast address is IPv6). */
  broadcastNextHop6: string | undefined;
  /** Anycast addresses G (IPv4 and/or IPv6). */
  anycast: readonly string[];
  /** UDP ports sent to every relay (broadcast). */
  udpPorts: readonly number[];
  /** TCP and TLS ports: informational (every non-broadcast flow to G uses the ECMP group). */
  tcpPorts: readonly number[];
  tlsPorts: readonly number[];
  relays: readonly AgentRelay[];
  /** Routing table of the broadcast routes (dedicated to the agent). */
  table: number;
  /** Priority of the agent's policy rules (dedicated to the agent). */
  rulePriority: number;
  /** Routing protocol number that marks the agent's routes, rules, nexthops and neighbour entries. */
  protocol: number;
  nexthopIdFirst: number;
  nexthopIdLast: number;
  /** Buckets of the resilient nexthop group. */
  buckets: number;
  /** Reconcile period, ms. */
  reconcileInterval: number;
  /** Reconcile on netlink changes (`ip monitor`) as well as on the timer. */
  watchNetlink: boolean;
  /** STUN Binding health probes; false = every relay counts as healthy. */
  healthCheck: boolean;
  healthInterval: number;
  healthTimeout: number;
  /** Consecutive failed probes that make a relay unhealthy. */
  healthFailures: number;
  /** Consecutive answered probes that make an unhealthy relay healthy again. */
  healthRise: number;
  /** Where /metrics is served; undefined = not served. */
  metrics: HostPort | undefined;
  logLevel: LogLevel;
  /** BGP announcement of the anycast prefixes; undefined = the agent does not touch BGP. */
  bgp: AgentBgpConfig | undefined;
  /** Cluster store (relay load and state for the BGP policy; the agent's decisions for `anyturn status`). */
  redis: string | undefined;
  /** This agent's id in the cluster store (default: the host name). */
  agentId: string;
  /** BGP policy re-evaluation and announcement publication period, ms. */
  announceInterval: number;
}

export const AGENT_FLAGS = {
  config: { type: 'string', arg: 'FILE', help: 'YAML agent configuration (required)' },
  once: { type: 'boolean', help: 'probe the relays once, converge once, print a summary and exit' },
  teardown: { type: 'boolean', help: 'remove every object the agent created and exit' },
  'log-level': { type: 'string', arg: 'LEVEL', help: `${LOG_LEVELS.join('|')} (default info)` },
  metrics: { type: 'string', arg: 'IP:PORT', help: 'serve /metrics here' },
  redis: { type: 'string', arg: 'URL', help: 'cluster store: relay load for the BGP policy, decisions for anyturn status' },
} as const satisfies FlagsSpec;

export const AGENT_USAGE = formatUsage('anyturn agent --config FILE [--once | --teardown] [flags]', AGENT_FLAGS);

const ipv4 = () => specificIpAddress().refine((s) => isIP(s) === 4, 'must be an IPv4 address');
const ipv6 = () => specificIpAddress().refine((s) => isIP(s) === 6, 'must be an IPv6 address');
/** Linux interface names: 1-15 characters, no '/', ':' or whitespace. */
const ifName = () => z.string().regex(/^[^\s/:]{1,15}$/, 'must be an interface name (1-15 characters)');
const u32 = (min: number) => z.number().int().min(min).max(0xffffffff);

const RelaySchema = z.strictObject({
  id: name(),
  address: ipv4(),
  address6: ipv6().optional(),
  port: port().default(3478),
});

/** A path BIRD and birdc can use (no quote or newline: it is written into BIRD's config). */
const birdPath = () => z.string().regex(/^\/[^"\n\r\\]{1,200}$/, 'must be an absolute path without quotes or newlines');

const StepSchema = z.strictObject({
  load: z.number().min(0).max(1),
  prepend: z.number().int().min(0).max(16),
});

/** Defaults of the BGP policy (documented in docs/config.md, "Router agent"). */
export const DEFAULT_PREPEND_STEPS: readonly AgentPrependStep[] = [
  { load: 0.6, prepend: 1 },
  { load: 0.8, prepend: 3 },
];

const BgpSchema = z.strictObject({
  'birdctl-socket': birdPath(),
  'include-file': birdPath(),
  'prepend-as': u32(1),
  prefixes: list(cidr()).optional(),
  'symbol-prefix': z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,40}$/, 'must be a BIRD symbol (letters, digits, _)').default('anyturn'),
  birdc: z.string().min(1).default('birdc'),
  steps: z.array(StepSchema).default(DEFAULT_PREPEND_STEPS.map((s) => ({ ...s }))),
  hysteresis: z.number().min(0).max(1).default(0.05),
});

/** The file form (kebab-case keys), with defaults. */
export const AgentFileSchema = z.strictObject({
  pop: name(),
  'lan-interface': ifName(),
  'broadcast-next-hop': ipv4(),
  'broadcast-next-hop6': ipv6().optional(),
  anycast: list(specificIpAddress()).pipe(z.array(z.string()).min(1)),
  'udp-ports': list(port()).default([3478]),
  'tcp-ports': list(port()).default([3478]),
  'tls-ports': list(port()).default([5349]),
  relays: z.array(RelaySchema).min(1),
  table: u32(1).refine((t) => t < 253 || t > 255, 'must not be a system table (253 default, 254 main, 255 local)').default(100),
  'rule-priority': u32(1).refine((p) => p !== 32766 && p !== 32767, 'must not be the main/default rule priority').default(100),
  protocol: z.number().int().min(5).max(255).default(250),
  'nexthop-id-first': u32(1).default(1000),
  'nexthop-id-last': u32(1).default(1999),
  buckets: z.number().int().min(2).max(65535).default(128),
  'reconcile-interval': count(100).default(5000),
  'watch-netlink': z.boolean().default(true),
  'health-check': z.boolean().default(true),
  'health-interval': count(10).default(1000),
  'health-timeout': count(1).default(500),
  'health-failures': count(1).default(3),
  'health-rise': count(1).default(1),
  metrics: hostPort().optional(),
  'log-level': z.enum(LOG_LEVELS).default('info'),
  bgp: BgpSchema.optional(),
  redis: redisUrl().optional(),
  'agent-id': name().optional(),
  'announce-interval': count(100).default(5000),
  /** Free text for the operator; ignored. */
  comment: text().optional(),
});
type AgentFile = z.output<typeof AgentFileSchema>;

/** Nexthop ids the agent needs: a group per family and one nexthop per relay and family. */
export function nexthopIdsNeeded(relayCount: number): number {
  return 2 + 2 * relayCount;
}

function crossCheck(c: AgentFile, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const anycast = Array.isArray(c.anycast) ? c.anycast : [];
  const relays = Array.isArray(c.relays) ? c.relays : [];
  anycast.forEach((g, i) => {
    if (anycast.indexOf(g) !== i) issue(['anycast', i], `duplicate address ${g}`);
  });
  if (anycast.some((g) => isIP(g) === 6) && c['broadcast-next-hop6'] === undefined) {
    issue(['broadcast-next-hop6'], 'is required when an anycast address is IPv6');
  }
  const ids = new Set<string>();
  const addresses = new Set<string>();
  relays.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    if (ids.has(r.id)) issue(['relays', i, 'id'], `duplicate relay id '${r.id}'`);
    ids.add(r.id);
    for (const key of ['address', 'address6'] as const) {
      const a = r[key];
      if (a === undefined) continue;
      if (addresses.has(a)) issue(['relays', i, key], `duplicate address ${a}`);
      addresses.add(a);
      if (a === c['broadcast-next-hop'] || a === c['broadcast-next-hop6']) {
        issue(['relays', i, key], 'must differ from the broadcast next hop');
      }
      if (anycast.includes(a)) issue(['relays', i, key], 'must be a unicast address, not an anycast one');
    }
  });
  const first = c['nexthop-id-first'];
  const last = c['nexthop-id-last'];
  if (typeof first === 'number' && typeof last === 'number') {
    if (last < first) issue(['nexthop-id-last'], 'must be >= nexthop-id-first');
    else if (last - first + 1 < nexthopIdsNeeded(relays.length)) {
      issue(['nexthop-id-last'], `the range needs at least ${nexthopIdsNeeded(relays.length)} ids for ${relays.length} relays`);
    }
  }
  if (typeof c['health-timeout'] === 'number' && typeof c['health-interval'] === 'number' && c['health-timeout'] > c['health-interval']) {
    issue(['health-timeout'], 'must be <= health-interval');
  }
  const bgp = c.bgp;
  if (bgp && typeof bgp === 'object') {
    if (bgp['include-file'] === bgp['birdctl-socket']) issue(['bgp', 'include-file'], 'must differ from birdctl-socket');
    const prefixes = Array.isArray(bgp.prefixes) ? bgp.prefixes : undefined;
    if (prefixes !== undefined) {
      if (prefixes.length === 0) issue(['bgp', 'prefixes'], 'needs at least 1 entry');
      prefixes.forEach((p, i) => {
        if (!hostBitsClear(p)) issue(['bgp', 'prefixes', i], `${p} has host bits set (BIRD refuses it)`);
      });
      anycast.forEach((g, i) => {
        if (isIP(g) !== 0 && !prefixes.some((p) => covers(p, g))) {
          issue(['anycast', i], `${g} is in none of bgp.prefixes: announcing them would not bring its traffic here`);
        }
      });
    }
  }
}

/** True when the CIDR `prefix` contains `address`. */
function covers(prefix: string, address: string): boolean {
  const p = parseCidr(prefix);
  const family = isIP(address);
  if (p === undefined || family !== p.family) return false;
  const list = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  list.addSubnet(p.address, p.prefix, type);
  return list.check(address, type);
}


/** The host name, cut to a valid id. */
function defaultAgentId(): string {
  const id = hostname().split('.')[0].replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return id === '' ? 'agent' : id;
}

function toBgpConfig(b: NonNullable<AgentFile['bgp']>, anycast: readonly string[]): AgentBgpConfig {
  return {
    birdctlSocket: b['birdctl-socket'],
    includeFile: b['include-file'],
    prependAs: b['prepend-as'],
    prefixes: b.prefixes ?? anycast.map((g) => `${g}/${isIP(g) === 6 ? 128 : 32}`),
    symbolPrefix: b['symbol-prefix'],
    birdc: b.birdc,
    steps: b.steps.map((s) => ({ load: s.load, prepend: s.prepend })),
    hysteresis: b.hysteresis,
  };
}

function toAgentConfig(c: AgentFile): AgentConfig {
  return {
    pop: c.pop,
    lanInterface: c['lan-interface'],
    broadcastNextHop: c['broadcast-next-hop'],
    broadcastNextHop6: c['broadcast-next-hop6'],
    anycast: c.anycast,
    udpPorts: c['udp-ports'],
    tcpPorts: c['tcp-ports'],
    tlsPorts: c['tls-ports'],
    relays: c.relays.map((r) => ({ id: r.id, address: r.address, address6: r.address6, port: r.port })),
    table: c.table,
    rulePriority: c['rule-priority'],
    protocol: c.protocol,
    nexthopIdFirst: c['nexthop-id-first'],
    nexthopIdLast: c['nexthop-id-last'],
    buckets: c.buckets,
    reconcileInterval: c['reconcile-interval'],
    watchNetlink: c['watch-netlink'],
    healthCheck: c['health-check'],
    healthInterval: c['health-interval'],
    healthTimeout: c['health-timeout'],
    healthFailures: c['health-failures'],
    healthRise: c['health-rise'],
    metrics: c.metrics,
    logLevel: c['log-level'],
    bgp: c.bgp === undefined ? undefined : toBgpConfig(c.bgp, c.anycast),
    redis: c.redis,
    agentId: c['agent-id'] ?? defaultAgentId(),
    announceInterval: c['announce-interval'],
  };
}

/** Kebab-case input (file + flags) -> validated camelCase AgentConfig. */
export const AgentConfigSchema: z.ZodType<AgentConfig> = AgentFileSchema.superRefine(crossCheck).transform(toAgentConfig);

export interface AgentCommand {
  config: AgentConfig;
  action: 'run' | 'once' | 'teardown';
}

/**
 * `anyturn agent` argv -> the action and the frozen AgentConfig.
 * Throws AnyturnError: ATN_ERR_CLI_USAGE, ATN_ERR_CONFIG_FILE, ATN_ERR_CONFIG_INVALID.
 */
export function loadAgentCommand(argv: string[]): AgentCommand {
  const { config: file, once, teardown, help, ...overrides } = parseFlags(argv, AGENT_FLAGS);
  if (help) throw new AnyturnError('ATN_ERR_CLI_USAGE', AGENT_USAGE);
  if (typeof file !== 'string') throw new AnyturnError('ATN_ERR_CLI_USAGE', `--config FILE is required\n\n${AGENT_USAGE}`);
  if (once && teardown) throw new AnyturnError('ATN_ERR_CLI_USAGE', '--once and --teardown exclude each other');
  const config = loadConfig(AgentConfigSchema, { file, overrides });
  return { config, action: teardown ? 'teardown' : once ? 'once' : 'run' };
}
