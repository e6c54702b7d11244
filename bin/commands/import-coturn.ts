/**
 * `anyturn import-coturn turnserver.conf > anyturn.yaml`: coturn's configuration as an anyturn relay YAML
 * (import.ts). The YAML goes to stdout; one summary line to stderr.
 */
import { parseFlags, wantsHelp, type FlagsSpec } from '../../src/config/flags.js';
import { AnyturnError } from '../../src/errors.js';
import { importCoturn, renderImport, validateImport } from '../../src/coturn/import.js';
import { readTurnserverConf } from '../../src/coturn/turnserver-conf.js';

const FLAGS = {} as const satisfies FlagsSpec;
const USAGE = [
  'usage: anyturn import-coturn TURNSERVER.CONF > anyturn.yaml',
  '',
  "Prints coturn's configuration as an anyturn relay YAML; every option not imported is listed at the end",
  'with its line and the reason (docs/coturn.md).',
  '',
].join('\n');

export async function run(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    process.stdout.write(USAGE);
    return 0;
  }
  const flags = parseFlags(argv, FLAGS, { positionals: true });
  const files = flags._ as string[];
  if (files.length !== 1) throw new AnyturnError('ATN_ERR_CLI_USAGE', USAGE);
  const options = readTurnserverConf(files[0]);
  const result = importCoturn(options);
  validateImport(result);
  process.stdout.write(renderImport(result, files[0]));
  const imported = options.length - result.notImported.length;
  process.stderr.write(`anyturn import-coturn: ${imported} option(s) imported, ${result.notImported.length} not imported (listed at the end of the output)\n`);
  return 0;
}
