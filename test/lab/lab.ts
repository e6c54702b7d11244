/**
 * The namespace lab: clients behind an "internet" router, and PoPs (a router with the
 * PoP LAN on a bridge, relays holding the anycast address G on lo). Used by
 * `anyturn lab up|down|status` and by the integration tests (each with its own prefix).
 *
 *   c1 10.0.1.2 ─┐                         ┌─ r1 10.9.9.11 (G on lo)
 *                inet ── 10.255.0.0/30 ── pop1 ─[bridge lan 10.9.9.1]─ r2 10.9.9.12
 *   c2 10.0.2.2 ─┘                         └─ r3 10.9.9.13
 *
 * Every namespace is named `<prefix>…`, every interface lives inside one of them, so
 * deleting the namespaces with the prefix removes exactly the lab. PoP k (1-based) uses
 * transit 10.255.0.(4k-3)/30 (inet side) and LAN 10.9.(8+k).0/24, and in IPv6 transit
 * fd00:255:0:k::/64 and LAN fd00:9:k::/64 (G6 = 2001:2::1, clients fd00:0:i::2); `pops: 2` is the
 * start of the two-PoP (BGP) lab: the inet router's static route to G points at pop1
 * unless `staticAnycast` is false or `bgp` is on.
 *
 * `bgp: true` (test/lab/bgp.ts): BIRD 2 in inet (the ISP, AS 64500) and in every PoP
 * router (AS 65001, 65002, ...), eBGP per transit link; the ISP prefers pop1 by MED while
 * the AS paths are equally long; each PoP router's BIRD includes the agent's include file.
 * `redis: true` (test/lab/redis.ts): redis-server in `<prefix>redis`, 10.254.0.2:6379
 * behind inet, and on a Unix socket for the test process. Configs, sockets and logs live
 * in the state directory /tmp/anyturn-lab-<prefix>/ (removed by labDown).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnyturnError } from '../../src/errors.js';
import { bgpLayout, startLabBgp, type LabBgp } from './bgp.js';
import { addAddress, addNamespace, addVeth, deleteNamespace, listNamespaces, namespacePids, sh, sysctl } from './netns.js';
import { buildOverlay, overlayLayout, overlayPorts, type LabOverlay, type LabOverlayPort } from './overlay.js';
import { redisLayout, startLabRedis, type LabRedis } from './redis.js';

export const LAB_ANYCAST = '198.18.0.1';
/** IPv6 anycast address (RFC 5180 benchmarking range). */
export const LAB_ANYCAST6 = '2001:2::1';
export const DEFAULT_PREFIX = 'atlab-';

export interface LabOptions {
  /** Prefix of every namespace name (letters, digits, '-', 2-20 characters). */
  prefix: string;
  pops?: number;
  relaysPerPop?: number;
  clients?: number;
  /** Static route to G on the inet router via pop1 (default: true unless `bgp`). */
  staticAnycast?: boolean;
  /** BIRD in inet (ISP) and every PoP router, eBGP sessions up (test/lab/bgp.ts). */
  bgp?: boolean;
  /** redis-server reachable from every namespace (test/lab/redis.ts). */
  redis?: boolean;
  /** The private overlay network between the relays, two paths (test/lab/overlay.ts). */
  overlay?: boolean;
  /**
   * A second transit link per PoP router (`up1` 10.255.1.(4k-2)/30, the inet side `<pop>b` 10.255.1.(4k-3)), for
   * per-tenant egress; only the router's policy routing sends anything that way.
   */
  secondUplink?: boolean;
}

export interface LabClient {
  name: string;
  ns: string;
  address: string;
  gateway: string;
  address6: string;
  gateway6: string;
}
export interface LabRelay {
  /** Cluster-wide relay id, e.g. `pop1-r2`. */
  id: string;
  ns: string;
  /** Unicast LAN address. */
  address: string;
  address6: string;
  dev: string;
  /** Bridge port on the PoP router. */
  port: string;
  /** Its ends of the overlay paths (labs built with `overlay`). */
  overlay?: LabOverlayPort[];
}
export interface LabPop {
  name: string;
  /** The PoP router's namespace (the agent runs here). */
  ns: string;
  lanDev: string;
  lanAddress: string;
  lanPrefix: number;
  /** The LAN as a CIDR (`10.9.9.0/24`). */
  lanNetwork: string;
  broadcastNextHop: string;
  lanAddress6: string;
  lanNetwork6: string;
  broadcastNextHop6: string;
  uplinkDev: string;
  uplinkAddress: string;
  /** The second transit link (`secondUplink`): this router's end, its interface, and the inet router's end. */
  uplink2?: { dev: string; address: string; peerAddress: string; peerDev: string };
  uplinkAddress6: string;
  /** The inet router's address on this PoP's transit link. */
  peerAddress: string;
  peerAddress6: string;
  /** The inet router's interface towards this PoP. */
  peerDev: string;
  relays: LabRelay[];
}
export interface Lab {
  prefix: string;
  anycast: string;
  anycast6: string;
  inet: { ns: string };
  clients: LabClient[];
  pops: LabPop[];
  /** Configs, sockets, logs of the lab's daemons: /tmp/anyturn-lab-<prefix>/. */
  stateDir: string;
  bgp: LabBgp | undefined;
  redis: LabRedis | undefined;
  overlay?: LabOverlay;
}

/** Where a lab keeps its files (BIRD and redis configs, sockets, logs; `anyturn lab up` process logs). */
export function labStateDir(prefix: string): string {
  return join(tmpdir(), `anyturn-lab-${prefix}`);
}

/** Names and addresses of a lab (pure). */
export function labLayout(options: LabOptions): Lab {
  const { prefix } = options;
  checkPrefix(prefix);
  const pops = options.pops ?? 1;
  const relaysPerPop = options.relaysPerPop ?? 3;
  const clients = options.clients ?? 2;
  if (pops < 1 || pops > 8 || relaysPerPop < 1 || relaysPerPop > 32 || clients < 1 || clients > 8) {
    throw new AnyturnError('ATN_ERR_LAB_SETUP', 'lab size out of range (pops 1-8, relays 1-32, clients 1-8)');
  }
  const stateDir = labStateDir(prefix);
  const popNames = Array.from({ length: pops }, (_, k) => ({ name: `pop${k + 1}` }));
  return {
    prefix,
    stateDir,
    bgp: options.bgp ? bgpLayout(stateDir, popNames) : undefined,
    redis: options.redis ? redisLayout(prefix, stateDir) : undefined,
    ...(options.overlay ? { overlay: overlayLayout(prefix) } : {}),
    anycast: LAB_ANYCAST,
    anycast6: LAB_ANYCAST6,
    inet: { ns: `${prefix}inet` },
    clients: Array.from({ length: clients }, (_, i) => ({
      name: `c${i + 1}`,
      ns: `${prefix}c${i + 1}`,
      address: `10.0.${i + 1}.2`,
      gateway: `10.0.${i + 1}.1`,
      address6: `fd00:0:${i + 1}::2`,
      gateway6: `fd00:0:${i + 1}::1`,
    })),
    pops: Array.from({ length: pops }, (_, k) => {
      const name = `pop${k + 1}`;
      const lan = `10.9.${9 + k}`;
      const lan6 = `fd00:9:${k + 1}:`;
      return {
        name,
        ns: `${prefix}${name}`,
        lanDev: 'lan',
        lanAddress: `${lan}.1`,
        lanPrefix: 24,
        lanNetwork: `${lan}.0/24`,
        broadcastNextHop: `${lan}.254`,
        lanAddress6: `${lan6}:1`,
        lanNetwork6: `${lan6}:/64`,
        broadcastNextHop6: `${lan6}:fe`,
        uplinkDev: 'up0',
        uplinkAddress: `10.255.0.${4 * k + 2}`,
        peerAddress: `10.255.0.${4 * k + 1}`,
        uplinkAddress6: `fd00:255:0:${k + 1}::2`,
        peerAddress6: `fd00:255:0:${k + 1}::1`,
        peerDev: name,
        ...(options.secondUplink
          ? { uplink2: { dev: 'up1', address: `10.255.1.${4 * k + 2}`, peerAddress: `10.255.1.${4 * k + 1}`, peerDev: `${name}b` } }
          : {}),
        relays: Array.from({ length: relaysPerPop }, (_, i) => ({
          id: `${name}-r${i + 1}`,
          ns: `${prefix}${name}-r${i + 1}`,
          address: `${lan}.${11 + i}`,
          address6: `${lan6}:${11 + i}`,
          dev: 'eth0',
          port: `r${i + 1}`,
          ...(options.overlay ? { overlay: overlayPorts(k, i) } : {}),
        })),
      };
    }),
  };
}

function checkPrefix(prefix: string): void {
  if (!/^[a-z0-9][a-z0-9-]{1,19}$/.test(prefix)) {
    throw new AnyturnError('ATN_ERR_LAB_SETUP', `bad lab prefix '${prefix}' (2-20 of a-z 0-9 -)`);
  }
}

/** Every namespace of the lab, in creation order. */
export function labNamespaces(lab: Lab): string[] {
  return [
    lab.inet.ns,
    ...lab.clients.map((c) => c.ns),
    ...lab.pops.flatMap((p) => [p.ns, ...p.relays.map((r) => r.ns)]),
    ...(lab.redis ? [lab.redis.ns] : []),
    ...(lab.overlay ? [lab.overlay.ns] : []),
  ];
}

/**
 * Builds the lab. Refuses when namespaces with the prefix exist already; on failure,
 * removes what it built and rethrows.
 */
export async function labUp(options: LabOptions): Promise<Lab> {
  const lab = labLayout(options);
  const existing = await listNamespaces(lab.prefix);
  if (existing.length > 0) {
    throw new AnyturnError('ATN_ERR_LAB_SETUP', `namespaces with prefix '${lab.prefix}' exist already (${existing.join(', ')}); run lab down first`);
  }
  try {
    await build(lab, options.staticAnycast ?? !options.bgp);
  } catch (err) {
    await labDown(lab.prefix);
    throw err;
  }
  return lab;
}

async function build(lab: Lab, staticAnycast: boolean): Promise<void> {
  await Promise.all(labNamespaces(lab).map((ns) => addNamespace(ns)));
  const inet = lab.inet.ns;
  await routerSysctls(inet);

  await Promise.all(lab.clients.map(async (c) => {
    await addVeth({ ns: c.ns, name: 'eth0' }, { ns: inet, name: c.name });
    await addAddress(c.ns, 'eth0', `${c.address}/24`);
    await addAddress(inet, c.name, `${c.gateway}/24`);
    await sh('ip', ['-n', c.ns, 'route', 'add', 'default', 'via', c.gateway]);
    await addAddress6(c.ns, 'eth0', `${c.address6}/64`);
    await addAddress6(inet, c.name, `${c.gateway6}/64`);
    await sh('ip', ['-n', c.ns, '-6', 'route', 'add', 'default', 'via', c.gateway6]);
  }));

  await Promise.all(lab.pops.map((pop) => buildPop(lab, pop)));

  for (const pop of lab.pops) {
    await sh('ip', ['-n', inet, 'route', 'add', pop.lanNetwork, 'via', pop.uplinkAddress]);
    await sh('ip', ['-n', inet, '-6', 'route', 'add', pop.lanNetwork6, 'via', pop.uplinkAddress6]);
  }
  if (staticAnycast) {
    await sh('ip', ['-n', inet, 'route', 'add', `${lab.anycast}/32`, 'via', lab.pops[0].uplinkAddress]);
    await sh('ip', ['-n', inet, '-6', 'route', 'add', `${lab.anycast6}/128`, 'via', lab.pops[0].uplinkAddress6]);
  }
  if (lab.overlay) await buildOverlay(lab.overlay, lab.pops.flatMap((p) => p.relays));
  if (lab.bgp || lab.redis) mkdirSync(lab.stateDir, { recursive: true });
  if (lab.redis) await startLabRedis(lab.redis, inet, lab.stateDir);
  if (lab.bgp) await startLabBgp(lab, lab.bgp);
}

async function buildPop(lab: Lab, pop: LabPop): Promise<void> {
  await routerSysctls(pop.ns);
  await addVeth({ ns: pop.ns, name: pop.uplinkDev }, { ns: lab.inet.ns, name: pop.peerDev });
  await addAddress(pop.ns, pop.uplinkDev, `${pop.uplinkAddress}/30`);
  await addAddress(lab.inet.ns, pop.peerDev, `${pop.peerAddress}/30`);
  await sh('ip', ['-n', pop.ns, 'route', 'add', 'default', 'via', pop.peerAddress]);
  await addAddress6(pop.ns, pop.uplinkDev, `${pop.uplinkAddress6}/64`);
  await addAddress6(lab.inet.ns, pop.peerDev, `${pop.peerAddress6}/64`);
  await sh('ip', ['-n', pop.ns, '-6', 'route', 'add', 'default', 'via', pop.peerAddress6]);
  if (pop.uplink2 !== undefined) {
    await addVeth({ ns: pop.ns, name: pop.uplink2.dev }, { ns: lab.inet.ns, name: pop.uplink2.peerDev });
    await addAddress(pop.ns, pop.uplink2.dev, `${pop.uplink2.address}/30`);
    await addAddress(lab.inet.ns, pop.uplink2.peerDev, `${pop.uplink2.peerAddress}/30`);
  }

  await sh('ip', ['-n', pop.ns, 'link', 'add', 'name', pop.lanDev, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  await addAddress(pop.ns, pop.lanDev, `${pop.lanAddress}/${pop.lanPrefix}`);
  await addAddress6(pop.ns, pop.lanDev, `${pop.lanAddress6}/64`);

  await Promise.all(pop.relays.map(async (r) => {
    await sysctl(r.ns, 'net.ipv4.conf.all.arp_ignore', 1);
    await sysctl(r.ns, 'net.ipv4.conf.all.arp_announce', 2);
    await addVeth({ ns: pop.ns, name: r.port }, { ns: r.ns, name: r.dev });
    await sh('ip', ['-n', pop.ns, 'link', 'set', 'dev', r.port, 'master', pop.lanDev]);
    await sysctl(r.ns, `net.ipv4.conf.${r.dev}.arp_ignore`, 1);
    await sysctl(r.ns, `net.ipv4.conf.${r.dev}.arp_announce`, 2);
    await addAddress(r.ns, r.dev, `${r.address}/${pop.lanPrefix}`);
    await sh('ip', ['-n', r.ns, 'addr', 'add', `${lab.anycast}/32`, 'dev', 'lo']);
    await sh('ip', ['-n', r.ns, 'route', 'add', 'default', 'via', pop.lanAddress]);
    await addAddress6(r.ns, r.dev, `${r.address6}/64`);
    await sh('ip', ['-n', r.ns, '-6', 'addr', 'add', `${lab.anycast6}/128`, 'dev', 'lo', 'nodad']);
    await sh('ip', ['-n', r.ns, '-6', 'route', 'add', 'default', 'via', pop.lanAddress6]);
  }));
}

/** An IPv6 address without duplicate address detection (usable at once), link up. */
async function addAddress6(ns: string, dev: string, cidr: string): Promise<void> {
  await sh('ip', ['-n', ns, '-6', 'addr', 'add', cidr, 'dev', dev, 'nodad']);
  await sh('ip', ['-n', ns, 'link', 'set', 'dev', dev, 'up']);
}

async function routerSysctls(ns: string): Promise<void> {
  await sysctl(ns, 'net.ipv4.ip_forward', 1);
  await sysctl(ns, 'net.ipv6.conf.all.forwarding', 1);
  await sysctl(ns, 'net.ipv4.conf.all.rp_filter', 0);
  await sysctl(ns, 'net.ipv4.conf.default.rp_filter', 0);
}

/**
 * Deletes every namespace starting with the prefix (killing what runs inside: relays,
 * agents, BIRD, redis-server) and the lab's state directory. Returns the namespaces.
 */
export async function labDown(prefix: string): Promise<string[]> {
  checkPrefix(prefix);
  const names = await listNamespaces(prefix);
  await Promise.all(names.map((ns) => deleteNamespace(ns)));
  rmSync(labStateDir(prefix), { recursive: true, force: true });
  return names;
}

export interface NamespaceStatus {
  ns: string;
  addresses: { dev: string; state: string; addresses: string[] }[];
  processes: { pid: number; command: string }[];
}

/** What exists now for the prefix: namespaces, their addresses and processes. */
export async function labStatus(prefix: string): Promise<NamespaceStatus[]> {
  checkPrefix(prefix);
  const out: NamespaceStatus[] = [];
  for (const ns of (await listNamespaces(prefix)).sort()) {
    const { stdout } = await sh('ip', ['-n', ns, '-j', 'addr', 'show'], { allowFail: true });
    const links = stdout.trim() ? (JSON.parse(stdout) as { ifname: string; operstate: string; addr_info?: { local: string; prefixlen: number; scope: string }[] }[]) : [];
    const processes = await Promise.all((await namespacePids(ns)).map(async (pid) => ({ pid, command: await commandLine(pid) })));
    out.push({
      ns,
      addresses: links.map((l) => ({
        dev: l.ifname,
        state: l.operstate,
        addresses: (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
      })),
      processes,
    });
  }
  return out;
}

async function commandLine(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean).join(' ');
  } catch {
    return '?';
  }
}

export interface AgentConfigOptions {
  /** Relays listed in the config (default: all of the PoP's). */
  relays?: LabRelay[];
  healthInterval?: number;
  healthTimeout?: number;
  healthFailures?: number;
  reconcileInterval?: number;
  /** Also map the IPv6 anycast address (relays' address6, broadcast-next-hop6). */
  ipv6?: boolean;
  /**
   * The `bgp:` section (default: on when the lab runs BGP): BIRD socket, include file and
   * prepend AS of the PoP; `steps`/`hysteresis` override the policy's defaults.
   */
  bgp?: boolean | { steps?: { load: number; prepend: number }[]; hysteresis?: number };
  /** `redis:` (default: on when the lab runs redis). */
  redis?: boolean;
  announceInterval?: number;
  /** `metrics:` IP:PORT. */
  metrics?: string;
  extra?: Record<string, unknown>;
}

/** The agent's YAML config for one PoP of the lab. */
export function agentConfigYaml(lab: Lab, pop: LabPop, opts: AgentConfigOptions = {}): string {
  const relays = opts.relays ?? pop.relays;
  const lines = [
    `pop: ${pop.name}`,
    `lan-interface: ${pop.lanDev}`,
    `broadcast-next-hop: ${pop.broadcastNextHop}`,
    `anycast: [${lab.anycast}${opts.ipv6 ? `, '${lab.anycast6}'` : ''}]`,
    ...(opts.ipv6 ? [`broadcast-next-hop6: '${pop.broadcastNextHop6}'`] : []),
    'relays:',
    ...relays.map((r) => `  - { id: ${r.id}, address: ${r.address}${opts.ipv6 ? `, address6: '${r.address6}'` : ''} }`),
    `health-interval: ${opts.healthInterval ?? 200}`,
    `health-timeout: ${opts.healthTimeout ?? 150}`,
    `health-failures: ${opts.healthFailures ?? 2}`,
    `reconcile-interval: ${opts.reconcileInterval ?? 2000}`,
    ...bgpYaml(lab, pop, opts),
    ...Object.entries(opts.extra ?? {}).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ];
  return `${lines.join('\n')}\n`;
}

function bgpYaml(lab: Lab, pop: LabPop, opts: AgentConfigOptions): string[] {
  const lines: string[] = [];
  const b = lab.bgp?.pops[lab.pops.indexOf(pop)];
  if (b !== undefined && opts.bgp !== false) {
    const policy = typeof opts.bgp === 'object' ? opts.bgp : {};
    lines.push(
      `agent-id: ${pop.name}-router`,
      'bgp:',
      `  birdctl-socket: ${JSON.stringify(b.birdSocket)}`,
      `  include-file: ${JSON.stringify(b.includeFile)}`,
      `  prepend-as: ${b.asn}`,
      ...(policy.steps ? [`  steps: ${JSON.stringify(policy.steps)}`] : []),
      ...(policy.hysteresis !== undefined ? [`  hysteresis: ${policy.hysteresis}`] : []),
    );
  }
  if (lab.redis !== undefined && opts.redis !== false) lines.push(`redis: ${JSON.stringify(lab.redis.url)}`);
  if (opts.announceInterval !== undefined) lines.push(`announce-interval: ${opts.announceInterval}`);
  if (opts.metrics !== undefined) lines.push(`metrics: ${JSON.stringify(opts.metrics)}`);
  return lines;
}
