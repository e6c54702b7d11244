/**
 * Runs the node-turn npm package (Atlantis-Software, RFC 5766) as a separate process for the benchmark.
 * Usage (by servers.ts only): node dist/test/bench/node-turn-server.js '<json config>'.
 * Prints {"msg":"ready"} once started; SIGTERM/SIGINT stop it.
 */
import { createRequire } from 'node:module';

interface NodeTurnServer {
  start(): void;
  stop(): void;
}

interface Config {
  address: string;
  port: number;
  minPort: number;
  maxPort: number;
  username: string;
  password: string;
  realm: string;
}

const require = createRequire(import.meta.url);
const Turn = require('node-turn') as new (options: Record<string, unknown>) => NodeTurnServer;
const cfg = JSON.parse(process.argv[2] ?? '{}') as Config;

const server = new Turn({
  listeningPort: cfg.port,
  listeningIps: [cfg.address],
  relayIps: [cfg.address],
  minPort: cfg.minPort,
  maxPort: cfg.maxPort,
  authMech: 'long-term',
  credentials: { [cfg.username]: cfg.password },
  realm: cfg.realm,
  debugLevel: 'OFF',
});
server.start();
process.stdout.write(JSON.stringify({ msg: 'ready', port: cfg.port }) + '\n');

const stop = (): void => {
  server.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
