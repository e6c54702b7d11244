import { AnyturnError } from '../../src/errors.js';
import { formatUsage, parseFlags, wantsHelp, type FlagsSpec } from '../../src/config/flags.js';
import { restCredentials } from '../../src/auth/rest-credentials.js';

/**
 * `anyturn creds --secret S [--user U] [--ttl SECONDS] [--uri URI]...`
 * Prints TURN REST API credentials as one JSON line:
 *   {"username":"<expiry>[:user]","credential":"<base64>","ttl":86400[,"uris":[...]]}
 * (the shape of the TURN REST API draft's response, so web back-ends can pass it on).
 */
export const CREDS_FLAGS = {
  secret: { type: 'string', arg: 'S', help: 'shared secret (a relay --auth-secret)' },
  user: { type: 'string', arg: 'U', help: 'user name appended to the expiry (optional)' },
  ttl: { type: 'number', arg: 'SECONDS', help: 'validity in seconds (default 86400)' },
  uri: { type: 'string', repeatable: true, arg: 'URI', help: 'a turn: URI to include in the output' },
} as const satisfies FlagsSpec;

export const DEFAULT_CREDS_TTL = 86400;

export interface CredsIo {
  stdout: { write(text: string): unknown };
  nowMs: () => number;
}

export async function run(
  argv: string[],
  io: CredsIo = { stdout: process.stdout, nowMs: () => Date.now() },
): Promise<number> {
  const usage = formatUsage('anyturn creds --secret S [--user U] [--ttl SECONDS] [--uri URI]...', CREDS_FLAGS);
  if (wantsHelp(argv)) {
    io.stdout.write(usage);
    return 0;
  }
  const flags = parseFlags(argv, CREDS_FLAGS);
  const secret = flags.secret as string | undefined;
  if (secret === undefined || secret === '') throw new AnyturnError('ATN_ERR_CLI_USAGE', '--secret is required');
  const ttl = (flags.ttl as number | undefined) ?? DEFAULT_CREDS_TTL;
  if (!Number.isSafeInteger(ttl) || ttl < 1) {
    throw new AnyturnError('ATN_ERR_CLI_USAGE', `--ttl: must be a whole number of seconds >= 1, got ${ttl}`);
  }
  const user = flags.user as string | undefined;
  const creds = restCredentials(secret, { user, ttlSeconds: ttl, nowMs: io.nowMs() });
  const uris = flags.uri as string[] | undefined;
  const output = uris === undefined ? creds : { ...creds, uris };
  io.stdout.write(`${JSON.stringify(output)}\n`);
  return 0;
}
