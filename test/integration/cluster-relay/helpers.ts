/**
 * Fixture of the relay-side cluster tests: a real redis-server on a free loopback port, real
 * `node dist/bin/anyturn.js relay --redis URL` processes on loopback (distinct ports and relay port ranges),
 * the `anyturn status|secret|creds` commands run as separate processes, and the test TURN client.
 */
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { anyturnBin } from '../../lab/proc.js';
import { TurnClient, TurnErrorResponse } from '../../support/turn-client.js';
import type { RelayRecord } from '../../../src/cluster/types.js';
import { freePort as freeRedisPort, RedisServer, waitFor } from '../cluster/helpers.js';
import { freePort, startRelayProcess, type RelayProcess } from '../relay/relay-process.js';

export { RedisServer, waitFor };

export const REALM = 'cluster.test';
export const USER = 'alice';
export const PASSWORD = 'alice-pass';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `node dist/bin/anyturn.js <args>`; resolves with the exit code and output (never rejects on a non-zero exit). */
export function anyturn(args: string[], timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [anyturnBin(), ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') {
        reject(new Error(`anyturn ${args[0]}: ${err.message} ${stderr}`));
        return;
      }
      resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
  });
}

export interface StatusView {
  connection: 'up' | 'down';
  relays: RelayRecord[];
  pops: { pop: string; relays: number; allocations: number }[];
}

/** `anyturn status --redis URL --json`. */
export async function status(url: string): Promise<StatusView> {
  const r = await anyturn(['status', '--redis', url, '--json']);
  if (r.code !== 0) throw new Error(`anyturn status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatusView;
}

/** REST credentials minted by `anyturn creds --secret S`. */
export async function creds(secret: string, user = 'rest-user'): Promise<{ username: string; credential: string }> {
  const r = await anyturn(['creds', '--secret', secret, '--user', user, '--ttl', '3600']);
  if (r.code !== 0) throw new Error(`anyturn creds exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as { username: string; credential: string };
}

export interface TestRelay {
  id: string;
  port: number;
  process: RelayProcess;
}

/** Relayed port ranges: 100 ports per relay, from a random base, never overlapping within one test file. */
let nextRange = Math.floor(Math.random() * 300);

/** Starts `anyturn relay` on 127.0.0.1:<free port> with its own relay port range; waits for "ready". */
export async function startRelay(id: string, extraArgs: string[], opts: { pop?: string } = {}): Promise<TestRelay> {
  const port = await freePort();
  const min = 20000 + (nextRange++ % 400) * 100;
  const args = [
    '--listen', '127.0.0.1', '--port', String(port), '--no-tcp',
    '--min-port', String(min), '--max-port', String(min + 99),
    '--realm', REALM, '--id', id, '--pop', opts.pop ?? 'pop1', '--log-level', 'info',
    ...extraArgs,
  ];
  const process_ = await startRelayProcess(args, { name: id, timeoutMs: 20_000 });
  return { id, port, process: process_ };
}

export async function stopAll(relays: Iterable<TestRelay | undefined>): Promise<void> {
  await Promise.all([...relays].map((r) => r?.process.stop()));
}

/** A fresh client of `relay` with the given credentials. */
export function client(relay: TestRelay, username: string, password: string, rtoMs = 100): Promise<TurnClient> {
  return TurnClient.connect({ server: { address: '127.0.0.1', port: relay.port }, username, password, rtoMs, maxTransmissions: 5 });
}

/**
 * One full Allocate with these credentials on `relay` (401 -> signed retry); 'ok' or the final STUN error code.
 * The allocation is deleted again (Refresh 0) when it succeeded.
 */
export async function tryAllocate(relay: TestRelay, username: string, password: string): Promise<'ok' | number> {
  const c = await client(relay, username, password);
  try {
    await c.allocate();
    await c.refresh(0);
    return 'ok';
  } catch (err) {
    if (err instanceof TurnErrorResponse) return err.code;
    throw err;
  } finally {
    await c.close();
  }
}

/** A UDP peer on 127.0.0.1 that records what it receives. */
export async function udpPeer(): Promise<{ socket: Socket; port: number; received: Buffer[]; close(): Promise<void> }> {
  const socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (m) => received.push(m));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  return {
    socket,
    port: socket.address().port,
    received,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A RedisServer on a free loopback port, started. */
export async function startRedis(): Promise<RedisServer> {
  const redis = new RedisServer(await freeRedisPort());
  await redis.start();
  return redis;
}
