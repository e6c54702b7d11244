/**
 * `anyturn agent --config FILE [--once | --teardown]`: the PoP router agent. Wiring only.
 *
 *   (default)   run: converge now, then keep converging (timer, health, netlink) until
 *               SIGTERM/SIGINT. Stopping leaves the kernel state in place (traffic keeps
 *               flowing); `--teardown` is the way to remove it.
 *   --once      probe the relays, converge once, print a JSON summary line, exit
 *               (0 = every operation applied, 1 = some failed).
 *   --teardown  remove every object the agent created, print a JSON summary line, exit.
 */
import type { Server } from 'node:http';
import { AGENT_USAGE, loadAgentCommand } from '../src/config/agent-schema.js';
import { wantsHelp } from '../src/config/flags.js';
import { createLogger } from '../src/log.js';
import { RouterAgent } from './agent.js';
import type { ReconcileResult } from './lan.js';
import { AgentMetrics } from './metrics.js';

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(AGENT_USAGE);
    return 0;
  }
  const { config, action } = loadAgentCommand(argv);
  const log = createLogger({ level: config.logLevel, name: 'anyturn-agent' }).child({ pop: config.pop });
  const metrics = new AgentMetrics(config.pop);
  const agent = new RouterAgent(config, { log, metrics });

  switch (action) {
    case 'teardown': {
      const result = await agent.teardown();
      printSummary('teardown', result, []);
      return result.failed > 0 ? 1 : 0;
    }
    case 'once': {
      try {
        const result = await agent.runOnce();
        printSummary('once', result, [...agent.healthyIds()]);
        return result.failed > 0 ? 1 : 0;
      } finally {
        await agent.close();
      }
    }
    case 'run':
      return runForever(agent, metrics, config.metrics, log);
  }
}

async function runForever(
  agent: RouterAgent,
  metrics: AgentMetrics,
  metricsAt: { address: string; port: number } | undefined,
  log: ReturnType<typeof createLogger>,
): Promise<number> {
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  let server: Server | undefined;
  if (metricsAt) server = await metrics.serve(metricsAt);
  await agent.start();
  log.info({ relays: agent.config.relays.length, anycast: agent.config.anycast }, 'agent started');
  const signal = await stopped;
  log.info({ signal }, 'agent stopping (kernel state left in place)');
  await agent.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  return 0;
}

/** One JSON line on stdout that scripts and tests read: `{"summary":"once","changes":N,...}`. */
function printSummary(kind: 'once' | 'teardown', result: ReconcileResult, healthy: string[]): void {
  const line = { summary: kind, changes: result.changes, failed: result.failed, ops: result.ops, errors: result.errors, healthy };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
