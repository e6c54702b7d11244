/**
 * `anyturn relay [flags]`: parses the config once (flags over the YAML file, one zod schema), starts the relay
 * (daemon.ts), logs one `ready` line with the bound addresses, and runs until SIGINT/SIGTERM, then closes
 * cleanly (listeners, allocations, HTTP) and exits 0. SIGUSR1 starts draining, SIGUSR2 ends it. SIGHUP re-reads
 * the configuration and applies what can change live (TLS certificate, users, secrets, admin token; reload.ts).
 *
 * Errors before "ready" (bad flag, bad config value, a listener that cannot bind) are AnyturnErrors: the CLI
 * prints `anyturn: <CODE>: <message>` on stderr and exits 1.
 */
import { wantsHelp } from '../src/config/flags.js';
import { AnyturnError } from '../src/errors.js';
import { loadRelayConfig, RELAY_USAGE } from '../src/config/schema.js';
import { createLogger } from '../src/log.js';
import { startRelay, type RunningRelay } from './daemon.js';
import { bannerLines } from './startup-banner.js';

/** After a stop signal, the process exits at the latest this long later even if a handle lingers. */
const EXIT_GRACE_MS = 5_000;

/** `--check`: validate the configuration (file and flags), print `configuration ok`, exit (like `nginx -t`). */
const CHECK_FLAG = '--check';
const CHECK_USAGE = `  ${CHECK_FLAG.padEnd(28)} validate the configuration and exit (0 = valid)\n`;

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(RELAY_USAGE + CHECK_USAGE);
    return 0;
  }
  if (argv.includes(CHECK_FLAG)) {
    loadRelayConfig(argv.filter((a) => a !== CHECK_FLAG)); // throws ATN_ERR_CONFIG_* with the key and the reason
    process.stdout.write('configuration ok\n');
    return 0;
  }
  const config = loadRelayConfig(argv);
  const log = createLogger({ level: config.logLevel });
  const relay = await startRelay(config, { log, reloadConfig: () => loadRelayConfig(argv) });
  // The lifecycle lines (ready, stopping, stopped) are what supervisors and tests wait for: they are written at
  // info even under --log-level warn/error/fatal (only 'silent' silences them).
  const lifecycle = ['warn', 'error', 'fatal'].includes(config.logLevel) ? log.child({}, { level: 'info' }) : log;

  lifecycle.info(
    { event: 'ready', id: config.id, pop: config.pop, listeners: relay.listeners, metrics: relay.http ? config.metrics : undefined },
    'ready',
  );
  if (relay.testUser !== undefined) {
    // After the log lines (a terminal gets them through pino-pretty's worker thread).
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    // Behind 1:1 NAT (--external-ip) clients must be given the public address, not the bound one.
    const advertised = relay.listeners.map((l) => ({ ...l, address: relay.turn.addresses.advertised(l.address) }));
    process.stdout.write(`${bannerLines(advertised, relay.testUser).join('\n')}\n`);
  }

  const signal = await untilStopSignal(relay);
  lifecycle.info({ signal }, 'stopping');
  setTimeout(() => process.exit(0), EXIT_GRACE_MS).unref();
  await relay.close();
  lifecycle.info({ event: 'stopped' }, 'stopped');
  return 0;
}

/** Resolves with the first SIGINT/SIGTERM; a second one exits at once. SIGUSR1/SIGUSR2 toggle draining, SIGHUP reloads. */
function untilStopSignal(relay: RunningRelay): Promise<NodeJS.Signals> {
  const onDrain = (): void => {
    relay.log.info('SIGUSR1: draining');
    relay.setDraining(true);
  };
  const onUndrain = (): void => {
    relay.log.info('SIGUSR2: draining ended');
    relay.setDraining(false);
  };
  const onReload = (): void => {
    try {
      relay.reloadFromSource();
    } catch (err) {
      const text = err instanceof AnyturnError ? `${err.code}: ${err.message}` : (err as Error).message;
      relay.log.error({ err: text }, 'SIGHUP: reload refused; the running configuration stays');
    }
  };
  process.on('SIGUSR1', onDrain);
  process.on('SIGUSR2', onUndrain);
  process.on('SIGHUP', onReload);
  return new Promise((resolve) => {
    const onStop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onStop);
      process.off('SIGTERM', onStop);
      process.off('SIGUSR1', onDrain);
      process.off('SIGUSR2', onUndrain);
      process.off('SIGHUP', onReload);
      const again = (): void => process.exit(signal === 'SIGINT' ? 130 : 143);
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      resolve(signal);
    };
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
  });
}
