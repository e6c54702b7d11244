/** Helpers for the cluster store tests: a real redis-server on a free loopback port, polling. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor as labWaitFor } from '../../lab/netns.js';

/**
 * Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`
 * (test/lab/netns.ts's waitFor, with the defaults these tests use).
 */
export function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, intervalMs = 20): Promise<T> {
  return labWaitFor(what, async () => {
    const v = await probe();
    return v === false ? undefined : v;
  }, timeoutMs, intervalMs);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** True when a PING on `port` gets +PONG. */
export function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export class RedisServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'atn-redis-'));
  #proc: ChildProcess | undefined;
  /** `extraArgs` go after the defaults (e.g. cluster mode); `configText` makes it run from a config file. */
  constructor(
    readonly port: number,
    readonly extraArgs: string[] = [],
    readonly configText?: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    if (this.configText !== undefined) {
      const file = join(this.dir, 'redis.conf');
      writeFileSync(file, this.configText);
      args.unshift(file);
    }
    const proc = spawn('redis-server', [...args, ...this.extraArgs], { stdio: 'ignore' });
    this.#proc = proc;
    await waitFor(`redis-server on ${this.port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
      return ping(this.port);
    });
  }

  /** SIGKILL (a crash) and wait for the process to be gone. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
    this.#proc = undefined;
  }

  signal(sig: NodeJS.Signals): void {
    this.#proc?.kill(sig);
  }

  async cleanup(): Promise<void> {
    this.#proc?.kill('SIGCONT');
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
