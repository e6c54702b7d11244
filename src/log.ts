import { pino, type Logger } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Pretty-print for humans; defaults to true when stdout is a terminal. */
  pretty?: boolean;
  name?: string;
}

/**
 * The one place loggers are made. JSON lines by default (what operators ship to
 * their log pipeline); pretty when stdout is a terminal. Components take a child:
 * `log.child({ component: 'allocate' })`, never a new root.
 */
export function createLogger(options: LogOptions = {}): Logger {
  const pretty = options.pretty ?? Boolean(process.stdout.isTTY);
  const base = { level: options.level ?? 'info', name: options.name ?? 'anyturn' };
  if (pretty) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { colorize: true, destination: 1 } } });
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

/** A logger that writes nothing, for unit tests and benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
