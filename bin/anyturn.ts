#!/usr/bin/env node
/**
 * The one CLI: `anyturn <command> [flags]`. Each command lives in its own module
 * and is loaded only when asked for. This is the packaged binary: it loads nothing from test/ (the namespace
 * lab has its own dev-only command, test/lab/cli.ts, `npm run lab`).
 */
import { packageVersion } from '../src/build/version.js';
import { AnyturnError } from '../src/errors.js';

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number | void> }> };

const COMMANDS: Record<string, Command> = {
  relay: { summary: 'run a TURN/STUN relay', load: () => import('../relay/main.js') },
  creds: { summary: 'print TURN REST API credentials for a shared secret', load: () => import('./commands/creds.js') },
  agent: { summary: 'run the PoP router agent', load: () => import('../router-agent/main.js') },
  status: { summary: 'show PoPs and relays from the cluster store', load: () => import('./commands/status.js') },
  'import-coturn': { summary: "turn coturn's turnserver.conf into an anyturn relay YAML", load: () => import('./commands/import-coturn.js') },
  secret: { summary: 'add, retire or list REST secrets cluster-wide', load: () => import('./commands/secret.js') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: anyturn <command> [flags]\n       anyturn --version\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`anyturn ${packageVersion()}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`anyturn: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  const code = await mod.run(rest);
  return typeof code === 'number' ? code : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof AnyturnError) {
      process.stderr.write(`anyturn: ${err.code}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`anyturn: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
