/**
 * The servers under test, each started as its own process on 127.0.0.1 with the same user, realm and a relay
 * port range of its own: anyturn (dist/bin/anyturn.js relay) in userspace (`--offload off`) on the native datagram
 * engine (`--udp-io native`) and on Node's dgram (`--udp-io node`), and with the eBPF kernel fast path
 * (`--offload on`, needs root), coturn's turnserver with one relay thread and with its default
 * thread count, and node-turn. A server counts as started when it says so (anyturn's "ready"
 * log line) and answers a STUN Binding.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { ANYTURN_CLI, NODE_TURN_SCRIPT } from './paths.js';
import { stunBinding, type Endpoint } from './turn-client.js';

export type ServerKind = 'anyturn' | 'anyturn-dgram' | 'anyturn-offload' | 'coturn-1' | 'coturn' | 'node-turn';
export const SERVER_KINDS: readonly ServerKind[] = ['anyturn', 'anyturn-dgram', 'anyturn-offload', 'coturn-1', 'coturn', 'node-turn'];

/**
 * Node flags the relay ships with (package.json `start`, the systemd unit, the Docker image): a 4 MiB young
 * generation (docs/operations.md, Memory), so anyturn is measured as operators run it.
 */
export const RELAY_NODE_FLAGS = ['--max-semi-space-size=4'];

export const SERVER_LABELS: Record<ServerKind, string> = {
  anyturn: 'anyturn',
  'anyturn-dgram': 'anyturn, Node dgram',
  'anyturn-offload': 'anyturn, eBPF offload',
  'coturn-1': 'coturn, 1 relay thread',
  coturn: 'coturn, default threads',
  'node-turn': 'node-turn',
};

export interface ServerConfig {
  address: string;
  username: string;
  password: string;
  realm: string;
  minPort: number;
  maxPort: number;
  /** anyturn's CLI script (default: this checkout's dist/bin/anyturn.js). */
  anyturnCli?: string;
  /** Extra node flags for the Node servers (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

export interface RunningServer {
  kind: ServerKind;
  pid: number;
  endpoint: Endpoint;
  /** The command line that started it (for the report). */
  command: string;
  /** The last lines of its stdout/stderr. */
  logTail(): string[];
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 8_000;

async function portFree(port: number, address: string): Promise<boolean> {
  const udpOk = await new Promise<boolean>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, address, () => s.close(() => resolve(true)));
  });
  if (!udpOk) return false;
  return new Promise<boolean>((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, address, () => srv.close(() => resolve(true)));
  });
}

/** A port that is free for UDP and TCP right now, picked by binding port 0. */
export async function pickFreePort(address: string): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.once('error', reject);
      s.bind(0, address, () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    if (await portFree(port, address)) return port;
  }
  throw new Error('no free port found');
}

function coturnPidFile(port: number): string {
  return join(tmpdir(), `anyturn-bench-coturn-${port}.pid`);
}

function commandFor(kind: ServerKind, cfg: ServerConfig, port: number): [string, string[]] {
  const user = `${cfg.username}:${cfg.password}`;
  switch (kind) {
    case 'anyturn':
    case 'anyturn-dgram':
    case 'anyturn-offload':
      return [
        process.execPath,
        [
          ...RELAY_NODE_FLAGS,
          ...(cfg.nodeArgs ?? []),
          cfg.anyturnCli || ANYTURN_CLI,
          'relay',
          '--listen', cfg.address,
          '--port', String(port),
          '--relay-ip', cfg.address,
          '--user', user,
          '--realm', cfg.realm,
          '--allow-peer', '127.0.0.0/8',
          '--min-port', String(cfg.minPort),
          '--max-port', String(cfg.maxPort),
          '--capacity', '1000000',
          '--offload', kind === 'anyturn-offload' ? 'on' : 'off',
          '--udp-io', kind === 'anyturn-dgram' ? 'node' : 'native',
        ],
      ];
    case 'coturn-1':
    case 'coturn':
      return [
        'turnserver',
        [
          '-n',
          '--listening-ip', cfg.address,
          '--listening-port', String(port),
          '--relay-ip', cfg.address,
          '--min-port', String(cfg.minPort),
          '--max-port', String(cfg.maxPort),
          '--allow-loopback-peers',
          '--lt-cred-mech',
          '--user', user,
          '--realm', cfg.realm,
          '--no-cli',
          '--no-tls',
          '--no-dtls',
          '--log-file', 'stdout',
          '--pidfile', coturnPidFile(port),
          ...(kind === 'coturn-1' ? ['--relay-threads', '1'] : []),
        ],
      ];
    case 'node-turn':
      return [
        process.execPath,
        [
          ...(cfg.nodeArgs ?? []),
          NODE_TURN_SCRIPT,
          JSON.stringify({
            address: cfg.address,
            port,
            minPort: cfg.minPort,
            maxPort: cfg.maxPort,
            username: cfg.username,
            password: cfg.password,
            realm: cfg.realm,
          }),
        ],
      ];
  }
}

function isReadyLine(line: string): boolean {
  if (!line.startsWith('{')) return false;
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    return o.ready === true || o.event === 'ready' || o.msg === 'ready';
  } catch {
    return false;
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts one server and waits (against a deadline) until it is ready and answers a STUN Binding. */
export async function startServer(kind: ServerKind, cfg: ServerConfig): Promise<RunningServer> {
  const port = await pickFreePort(cfg.address);
  const [cmd, args] = commandFor(kind, cfg, port);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let sawReady = kind === 'coturn' || kind === 'coturn-1';
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.length === 0) continue;
      if (!sawReady && isReadyLine(line)) sawReady = true;
      tail.push(line.length > 400 ? line.slice(0, 400) + '…' : line);
      if (tail.length > 40) tail.shift();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  const endpoint: Endpoint = { address: cfg.address, port };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
        child.kill('SIGKILL');
        await waitExit(child, STOP_TIMEOUT_MS);
      }
    }
    if (kind === 'coturn' || kind === 'coturn-1') rmSync(coturnPidFile(port), { force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError) throw new Error(`${kind}: cannot start ${cmd}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${kind} exited (${child.exitCode ?? child.signalCode}) before ready:\n${tail.join('\n')}`);
    }
    if (sawReady && (await stunBinding(endpoint, 200))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${kind} not ready after ${READY_TIMEOUT_MS} ms:\n${tail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    kind,
    pid: child.pid ?? -1,
    endpoint,
    command: [cmd === process.execPath ? 'node' : cmd, ...args].join(' '),
    logTail: () => [...tail],
    stop,
  };
}
