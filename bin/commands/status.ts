/**
 * `anyturn status --redis URL [--watch] [--json] [--prefix P]`: PoPs (BGP state from
 * the router agents, aggregate load) and relays (state, load, allocations, bandwidth)
 * as the shared cluster store holds them. `--watch` redraws every second.
 */
import { formatUsage, parseFlags, wantsHelp, type FlagsSpec } from '../../src/config/flags.js';
import { AnyturnError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { redactRedisUrl } from '../../src/cluster/redis-url.js';
import type { ClusterStore } from '../../src/cluster/store.js';
import { renderStatus } from '../../src/cluster/status-table.js';

export const STATUS_FLAGS = {
  redis: { type: 'string', arg: 'URL', help: 'cluster store (redis://, rediss://, redis+sentinel://, redis+cluster://, unix://)' },
  prefix: { type: 'string', arg: 'P', help: 'key prefix of the cluster (default anyturn)' },
  watch: { type: 'boolean', help: 'redraw every second until interrupted' },
  json: { type: 'boolean', help: 'print one JSON document instead of tables' },
} as const satisfies FlagsSpec;

export interface StatusIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** Stops --watch (default: SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Use this store instead of opening one from --redis (tests). */
  store?: ClusterStore;
  now?: () => number;
  intervalMs?: number;
}

const USAGE = formatUsage('anyturn status --redis URL [--watch] [--json] [--prefix P]', STATUS_FLAGS);
const CLEAR = '\x1b[H\x1b[2J';

export async function run(argv: string[], io: StatusIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(USAGE);
    return 0;
  }
  const flags = parseFlags(argv, STATUS_FLAGS);
  const url = flags.redis as string | undefined;
  let store = io.store;
  let source = store?.kind ?? '';
  if (store === undefined) {
    if (url === undefined) {
      throw new AnyturnError(
        'ATN_ERR_CLI_USAGE',
        '--redis URL is required: the shared cluster store lives in Redis (a relay without Redis keeps its state in memory)',
      );
    }
    const { RedisClusterStore } = await import('../../src/cluster/redis-store.js');
    store = new RedisClusterStore({ url, keyPrefix: flags.prefix as string | undefined, log: silentLogger(), refreshIntervalMs: 60_000 });
    source = redactRedisUrl(url);
  } else if (url !== undefined) {
    source = redactRedisUrl(url);
  }
  const now = io.now ?? (() => Date.now());
  const json = flags.json === true;
  const draw = async (clear: boolean): Promise<void> => {
    await store.refresh();
    const view = { source, connection: store.connectionState(), now: now(), pops: store.popSummaries(), relays: store.relays() };
    if (json) io.stdout.write(`${JSON.stringify(view)}\n`);
    else io.stdout.write(`${clear ? CLEAR : ''}${renderStatus(view)}`);
  };

  const owned = io.store === undefined;
  try {
    await store.start();
    if (flags.watch !== true) {
      if (store.connectionState() !== 'up') {
        io.stderr.write(`anyturn status: cannot reach the cluster store at ${source}\n`);
        return 1;
      }
      await draw(false);
      return 0;
    }
    await watch(io, () => draw(!json));
    return 0;
  } finally {
    if (owned) await store.close();
  }
}

/** Draws now and every interval until aborted (or SIGINT/SIGTERM). */
async function watch(io: StatusIo, draw: () => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  io.signal?.addEventListener('abort', stop, { once: true });
  if (io.signal?.aborted) stop();
  const signals: NodeJS.Signals[] = io.signal === undefined ? ['SIGINT', 'SIGTERM'] : [];
  for (const s of signals) process.once(s, stop);
  try {
    while (!controller.signal.aborted) {
      await draw();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, io.intervalMs ?? 1000);
        controller.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  } finally {
    for (const s of signals) process.off(s, stop);
    io.signal?.removeEventListener('abort', stop);
  }
}
