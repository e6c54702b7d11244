/**
 * `anyturn-lab up|down|status [flags]` (root only): builds, removes or shows the
 * namespace lab of test/lab/lab.ts. `up` can also start relays (`--relays stub|anyturn`)
 * and the router agent (`--agent`) as detached processes inside the namespaces, logging
 * to /tmp/anyturn-lab-<prefix>/; `down` kills them with their namespaces.
 *
 * `--pops 2` (or more) builds the global lab: BIRD in the ISP (inet) and in every PoP
 * router, redis-server behind the ISP, two relays per PoP; the agents get a `bgp:` section
 * and the store URL (`--no-bgp`, `--no-redis` opt out), the relays get `--redis` (heartbeats,
 * the fleet nonce key from the store).
 *
 *   anyturn lab up --pops 2 --relays anyturn --relay-arg=--user --relay-arg=alice:secret --agent
 *
 * `--overlay` adds the private overlay network (two paths, test/lab/overlay.ts); relays started with
 * `--relays anyturn` then get their `--overlay` addresses (add the key: `anyturn secret add --overlay`).
 */
import { randomBytes } from 'node:crypto';
import { openSync, closeSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AnyturnError } from '../../src/errors.js';
import { formatUsage, parseFlags, wantsHelp, type FlagsSpec } from '../../src/config/flags.js';
import { ispRoutes } from './bgp.js';
import { agentConfigYaml, DEFAULT_PREFIX, labDown, labStateDir, labStatus, labUp, type Lab } from './lab.js';
import { sh, spawnIn, waitFor } from './netns.js';
import { OVERLAY_PORT } from './overlay.js';
import { anyturnBin, stunResponderBin } from './proc.js';

const FLAGS = {
  prefix: { type: 'string', arg: 'P', help: `namespace name prefix (default ${DEFAULT_PREFIX})` },
  pops: { type: 'number', arg: 'N', help: 'PoPs (default 1)' },
  'relays-per-pop': { type: 'number', arg: 'N', help: 'relays per PoP (default 3; 2 with --pops 2+)' },
  bgp: { type: 'boolean', help: 'BIRD in the ISP and PoP routers, agents announce G (default on with --pops 2+)' },
  redis: { type: 'boolean', help: 'redis-server for relays and agents (default on with --pops 2+)' },
  clients: { type: 'number', arg: 'N', help: 'client hosts (default 2)' },
  overlay: { type: 'boolean', help: 'the private overlay network between the relays, two paths (test/lab/overlay.ts)' },
  relays: { type: 'string', arg: 'stub|anyturn', help: 'up: start a relay in every relay namespace' },
  'relay-arg': { type: 'string', repeatable: true, arg: 'ARG', help: 'up: extra argument for `anyturn relay`' },
  agent: { type: 'boolean', help: 'up: start `anyturn agent` in every PoP router' },
  ipv6: { type: 'boolean', help: 'up: relays and agent also serve/map G6 (the lab is always dual-stack)' },
  json: { type: 'boolean', help: 'status: print JSON' },
} as const satisfies FlagsSpec;

const USAGE = formatUsage('anyturn-lab up|down|status [flags]', FLAGS);

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(USAGE);
    return 0;
  }
  const flags = parseFlags(argv, FLAGS, { positionals: true });
  const [verb, ...extra] = flags._ as string[];
  if (extra.length > 0 || !verb) throw new AnyturnError('ATN_ERR_CLI_USAGE', USAGE);
  if (process.getuid?.() !== 0) throw new AnyturnError('ATN_ERR_LAB_SETUP', 'the lab needs root (network namespaces)');
  const prefix = (flags.prefix as string | undefined) ?? DEFAULT_PREFIX;
  const stateDir = labStateDir(prefix);

  switch (verb) {
    case 'up': {
      const relays = flags.relays as string | undefined;
      if (relays !== undefined && relays !== 'stub' && relays !== 'anyturn') {
        throw new AnyturnError('ATN_ERR_CLI_USAGE', `--relays: expects stub or anyturn, got '${relays}'`);
      }
      const pops = flags.pops as number | undefined;
      const global = (pops ?? 1) >= 2;
      const lab = await labUp({
        prefix,
        pops,
        relaysPerPop: (flags['relays-per-pop'] as number | undefined) ?? (global ? 2 : undefined),
        clients: flags.clients as number | undefined,
        bgp: (flags.bgp as boolean | undefined) ?? global,
        redis: (flags.redis as boolean | undefined) ?? global,
        overlay: flags.overlay === true,
      });
      try {
        if (relays || flags.agent) mkdirSync(stateDir, { recursive: true });
        const ipv6 = flags.ipv6 === true;
        if (relays) await startRelays(lab, relays, (flags['relay-arg'] as string[] | undefined) ?? [], stateDir, ipv6);
        if (flags.agent) await startAgents(lab, stateDir, ipv6, relays !== undefined);
      } catch (err) {
        await labDown(prefix);
        rmSync(stateDir, { recursive: true, force: true });
        throw err;
      }
      process.stdout.write(describe(lab));
      return 0;
    }
    case 'down': {
      const removed = await labDown(prefix);
      rmSync(stateDir, { recursive: true, force: true });
      process.stdout.write(removed.length ? `removed ${removed.length} namespaces: ${removed.join(' ')}\n` : 'nothing to remove\n');
      return 0;
    }
    case 'status': {
      const status = await labStatus(prefix);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        return 0;
      }
      if (status.length === 0) {
        process.stdout.write(`no lab with prefix '${prefix}'\n`);
        return 0;
      }
      for (const s of status) {
        const addrs = s.addresses.filter((a) => a.addresses.length > 0).map((a) => `${a.dev}=${a.addresses.join(',')}`);
        process.stdout.write(`${s.ns.padEnd(24)} ${addrs.join(' ')}\n`);
        for (const p of s.processes) process.stdout.write(`${''.padEnd(24)} pid ${p.pid}: ${p.command}\n`);
      }
      return 0;
    }
    default:
      throw new AnyturnError('ATN_ERR_CLI_USAGE', `unknown lab command '${verb}'\n\n${USAGE}`);
  }
}

function describe(lab: Lab): string {
  const lines = [`lab '${lab.prefix}' is up; anycast G = ${lab.anycast}, G6 = ${lab.anycast6}; files in ${lab.stateDir}`];
  for (const c of lab.clients) lines.push(`  client ${c.ns}: ${c.address} ${c.address6}`);
  for (const p of lab.pops) {
    lines.push(`  ${p.name} router ${p.ns}: lan ${p.lanDev} ${p.lanAddress}/${p.lanPrefix} ${p.lanAddress6}/64, `
      + `broadcast next hops ${p.broadcastNextHop} ${p.broadcastNextHop6}`);
    for (const r of p.relays) {
      lines.push(`    relay ${r.id} ${r.ns}: ${r.address} ${r.address6} (+ G, G6 on lo)`);
      if (r.overlay) lines.push(`      overlay ${r.overlay.map((o) => `${o.dev} ${o.address}`).join(', ')} (--overlay ${r.overlay.map((o) => `${o.address}:4000`).join(' --overlay ')})`);
    }
    const b = lab.bgp?.pops[lab.pops.indexOf(p)];
    if (b) lines.push(`    BIRD AS ${b.asn} (ISP MED ${b.med}): birdc -s ${b.birdSocket}; agent include file ${b.includeFile}`);
  }
  if (lab.bgp) lines.push(`  ISP ${lab.inet.ns}: BIRD AS ${lab.bgp.asn}: birdc -s ${lab.bgp.birdSocket} show route all for ${lab.anycast}`);
  if (lab.redis) lines.push(`  redis ${lab.redis.ns}: ${lab.redis.url} (from the host: ${lab.redis.localUrl}; anyturn status --redis ${lab.redis.localUrl})`);
  return `${lines.join('\n')}\n`;
}

/** Starts a detached process in `ns` whose output goes to `log`. */
function detached(ns: string, args: string[], log: string): void {
  const fd = openSync(log, 'a');
  try {
    const child = spawnIn(ns, process.execPath, args, { detached: true, stdio: ['ignore', fd, fd] });
    child.unref();
  } finally {
    closeSync(fd);
  }
}

/** Waits until something listens on UDP `address:port` inside `ns`. */
function udpListening(ns: string, address: string, port: number): Promise<true> {
  return waitFor(`UDP ${address}:${port} in ${ns}`, async () => {
    const { stdout } = await sh('ss', ['-H', '-uln', 'src', `${address}:${port}`], { ns });
    return stdout.trim() !== '' || undefined;
  }, 15_000, 100);
}

async function startRelays(lab: Lab, kind: 'stub' | 'anyturn', relayArgs: string[], stateDir: string, ipv6: boolean): Promise<void> {
  const relays = lab.pops.flatMap((pop) => pop.relays.map((r) => ({ pop, r })));
  // One fleet nonce key (a nonce minted by any relay is valid on every relay), unless given or
  // the relays share one through the cluster store (--redis).
  const shared = !lab.redis && !relayArgs.some((a) => a === '--nonce-key' || a.startsWith('--nonce-key='));
  const nonceKey = randomBytes(32).toString('hex');
  for (const { pop, r } of relays) {
    const args = kind === 'stub'
      ? [stunResponderBin(), '--name', r.id, ...[r.address, lab.anycast, `[${r.address6}]`, `[${lab.anycast6}]`]
        .flatMap((a) => ['--udp', `${a}:3478`, '--tcp', `${a}:3478`])]
      : [anyturnBin(), 'relay', '--listen', r.address, '--anycast', lab.anycast,
        ...(ipv6 ? ['--listen', r.address6, '--anycast', lab.anycast6] : []), '--id', r.id, '--pop', pop.name,
        ...(lab.redis ? ['--redis', lab.redis.url] : []), ...(shared ? ['--nonce-key', nonceKey] : []),
        ...(r.overlay ?? []).flatMap((o) => ['--overlay', `${o.address}:${OVERLAY_PORT}`]), ...relayArgs];
    detached(r.ns, args, join(stateDir, `${r.id}.log`));
  }
  await Promise.all(relays.map(({ r }) => udpListening(r.ns, r.address, 3478)));
}

async function startAgents(lab: Lab, stateDir: string, ipv6: boolean, relaysRunning: boolean): Promise<void> {
  for (const pop of lab.pops) {
    const config = join(stateDir, `agent-${pop.name}.yaml`);
    writeFileSync(config, agentConfigYaml(lab, pop, {
      healthInterval: 500, healthTimeout: 400, healthFailures: 3, reconcileInterval: 5000, ipv6,
      ...(lab.bgp ? { metrics: `${pop.uplinkAddress}:9101` } : {}),
    }));
    detached(pop.ns, [anyturnBin(), 'agent', '--config', config], join(stateDir, `agent-${pop.name}.log`));
  }
  // The broadcast route in the agent's table is there as soon as its first pass ran.
  await Promise.all(lab.pops.map((pop) => waitFor(`agent in ${pop.ns}`, async () => {
    const { stdout } = await sh('ip', ['-n', pop.ns, 'route', 'show', 'table', '100']);
    return stdout.includes(lab.anycast) || undefined;
  }, 15_000, 100)));
  // With BGP and healthy relays, every PoP announces G to the ISP.
  const bgp = lab.bgp;
  if (bgp && relaysRunning) {
    await waitFor('every PoP to announce G to the ISP', async () => {
      const routes = await ispRoutes(bgp, lab.anycast);
      return lab.pops.every((p) => routes.some((r) => r.via === p.uplinkAddress)) || undefined;
    }, 30_000, 100);
  }
}

