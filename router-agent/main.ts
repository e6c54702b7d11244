/**
 * `anyturn agent --config FILE [--once | --teardown] [--redis URL]`: the PoP router agent. Wiring only.
 *
 *   (default)   run: converge now, then keep converging (timer, health, netlink) until
 *               SIGTERM/SIGINT. With a `bgp:` section the BGP loop (announcer.ts) runs beside
 *               it. Stopping leaves the kernel state AND BIRD as they are (traffic keeps
 *               flowing; a stopped agent never withdraws its PoP); `--teardown` removes them.
 *   --once      probe the relays, converge once (and apply the BGP decision once), print a
 *               JSON summary line, exit (0 = every operation applied, 1 = some failed).
 *   --teardown  withdraw the anycast prefixes (BGP), remove every kernel object the agent
 *               created, print a JSON summary line, exit.
 */
import type { Server } from 'node:http';
import { registerBuildInfo } from '../src/build/build-info-metric.js';
import { openClusterStore, type ClusterStore } from '../src/cluster/store.js';
import { AGENT_USAGE, loadAgentCommand, type AgentConfig } from '../src/config/agent-schema.js';
import { wantsHelp } from '../src/config/flags.js';
import { assertNever } from '../src/errors.js';
import { createLogger, type Logger } from '../src/log.js';
import { RouterAgent } from './agent.js';
import { Announcer, type Evaluation } from './announcer.js';
import { BgpMetrics } from './bgp-metrics.js';
import { BgpDriver } from './bird.js';
import type { ReconcileResult } from './lan.js';
import { AgentMetrics } from './metrics.js';

interface BgpLoop {
  announcer: Announcer;
  driver: BgpDriver;
  store: ClusterStore;
}

interface BgpSummary {
  action: string;
  prepend: number;
  reason: string;
  applied: boolean;
}

/** `--check`: validate the configuration, print `configuration ok`, exit (deployment tools run it before installing a file). */
const CHECK_FLAG = '--check';

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(`${AGENT_USAGE}  ${CHECK_FLAG.padEnd(28)} validate the configuration and exit (0 = valid)\n`);
    return 0;
  }
  if (argv.includes(CHECK_FLAG)) {
    loadAgentCommand(argv.filter((a) => a !== CHECK_FLAG));
    process.stdout.write('configuration ok\n');
    return 0;
  }
  const { config, action } = loadAgentCommand(argv);
  const log = createLogger({ level: config.logLevel, name: 'anyturn-agent' }).child({ pop: config.pop });
  const metrics = new AgentMetrics(config.pop);
  registerBuildInfo(metrics.registry);
  const agent = new RouterAgent(config, { log, metrics });
  if (config.redis !== undefined && config.bgp === undefined) log.warn('redis is only used by the BGP loop: no bgp section, ignored');
  const bgp = config.bgp === undefined ? undefined : await openBgpLoop(config, agent, log, metrics);

  try {
    switch (action) {
      case 'teardown': {
        const result = await agent.teardown();
        let summary: BgpSummary | undefined;
        if (bgp) {
          try {
            await bgp.announcer.withdraw('teardown');
            summary = { action: 'withdraw', prepend: 0, reason: 'teardown', applied: true };
          } catch (err) {
            log.error({ err: (err as Error).message }, 'BGP withdraw failed');
            summary = { action: 'withdraw', prepend: 0, reason: (err as Error).message, applied: false };
          }
        }
        printSummary('teardown', result, [], summary);
        return result.failed > 0 || summary?.applied === false ? 1 : 0;
      }
      case 'once': {
        try {
          const result = await agent.runOnce();
          const evaluation = bgp ? await bgp.announcer.evaluate() : undefined;
          const summary = evaluation && bgpSummary(evaluation);
          printSummary('once', result, [...agent.healthyIds()], summary);
          return result.failed > 0 || summary?.applied === false ? 1 : 0;
        } finally {
          await agent.close();
        }
      }
      case 'run':
        return await runForever(agent, bgp, metrics, config.metrics, log);
      default:
        return assertNever(action);
    }
  } finally {
    if (bgp) {
      await bgp.announcer.close();
      bgp.driver.close();
      await bgp.store.close();
    }
  }
}

/** The BGP driver, the cluster store (Redis, or in memory: probes alone decide) and the announcer. */
async function openBgpLoop(config: AgentConfig, agent: RouterAgent, log: Logger, metrics: AgentMetrics): Promise<BgpLoop> {
  const bgp = config.bgp!;
  const driver = new BgpDriver({
    birdctlSocket: bgp.birdctlSocket,
    includeFile: bgp.includeFile,
    prefixes: bgp.prefixes,
    prependAs: bgp.prependAs,
    name: bgp.symbolPrefix,
    birdcPath: bgp.birdc,
    log,
  });
  const store = await openClusterStore({ redisUrl: config.redis, log: log.child({ component: 'cluster' }) });
  await store.start();
  if (config.redis !== undefined && store.connectionState() !== 'up') {
    log.warn('cluster store unreachable: relays count as active with load 0 until it answers');
  }
  const announcer = new Announcer(
    {
      pop: config.pop,
      agentId: config.agentId,
      prefixes: bgp.prefixes,
      thresholds: { steps: bgp.steps, hysteresis: bgp.hysteresis },
      intervalMs: config.announceInterval,
    },
    { driver, store, relays: () => agent.relayHealth(), log, metrics: new BgpMetrics(metrics.registry) },
  );
  return { announcer, driver, store };
}

async function runForever(
  agent: RouterAgent,
  bgp: BgpLoop | undefined,
  metrics: AgentMetrics,
  metricsAt: { address: string; port: number } | undefined,
  log: Logger,
): Promise<number> {
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  let server: Server | undefined;
  if (metricsAt) server = await metrics.serve(metricsAt);
  await agent.start();
  if (bgp) {
    // Health has settled (agent.start): the first decision sees real probe results, so a
    // restarted agent does not withdraw a PoP whose relays are fine.
    agent.on('health', () => bgp.announcer.trigger());
    bgp.announcer.start();
  }
  log.info({ relays: agent.config.relays.length, anycast: agent.config.anycast, bgp: bgp !== undefined }, 'agent started');
  const signal = await stopped;
  log.info({ signal }, 'agent stopping (kernel state and BGP announcement left in place)');
  await bgp?.announcer.close();
  await agent.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  return 0;
}

function bgpSummary({ decision, outcome }: Evaluation): BgpSummary {
  return { action: decision.action, prepend: decision.prepend, reason: decision.reason, applied: outcome !== 'failed' };
}

/** One JSON line on stdout that scripts and tests read: `{"summary":"once","changes":N,...}`. */
function printSummary(kind: 'once' | 'teardown', result: ReconcileResult, healthy: string[], bgp: BgpSummary | undefined): void {
  const line = {
    summary: kind, changes: result.changes, failed: result.failed, ops: result.ops, errors: result.errors, healthy,
    ...(bgp ? { bgp } : {}),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
