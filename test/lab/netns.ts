/**
 * Network-namespace helpers shared by the lab (`anyturn lab`) and every integration
 * test that needs namespaces. Thin wrappers over iproute2; nothing here keeps state.
 *
 * A namespace name of `''` means the host's own (root) namespace.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AnyturnError } from '../../src/errors.js';

export type { ChildProcess, SpawnOptions };

export interface ShOptions {
  /** Run inside this namespace (`ip netns exec`). */
  ns?: string;
  /** Resolve with the exit code instead of throwing on a non-zero exit. */
  allowFail?: boolean;
  /** Written to the command's stdin (e.g. `ip -batch -`). */
  input?: string;
  timeoutMs?: number;
}

export interface ShResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Runs one command (no shell). Throws ATN_ERR_LAB_SETUP on a non-zero exit unless `allowFail`. */
export function sh(cmd: string, args: string[], opts: ShOptions = {}): Promise<ShResult> {
  const [file, argv] = opts.ns ? ['ip', ['netns', 'exec', opts.ns, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      argv,
      { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 30_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        if (code !== 0 && !opts.allowFail) {
          const where = opts.ns ? ` (netns ${opts.ns})` : '';
          reject(
            new AnyturnError('ATN_ERR_LAB_SETUP', `${cmd} ${args.join(' ')}${where} failed (${code}): ${stderr.trim()}`, {
              cause: err,
            }),
          );
          return;
        }
        resolve({ stdout, stderr, code });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** `ip [-n ns] -j <args>` parsed; `[]` when iproute2 prints nothing. */
export async function ipJson<T = Record<string, unknown>>(ns: string, args: string[]): Promise<T[]> {
  const full = ns ? ['-n', ns, '-j', ...args] : ['-j', ...args];
  const { stdout } = await sh('ip', full);
  const text = stdout.trim();
  return text === '' ? [] : (JSON.parse(text) as T[]);
}

/**
 * `<base><6 random hex>-`: a name prefix no other run on this machine uses, so that tests running at the same time
 * (other developers, other worktrees) never meet, and a test never deletes namespaces it did not make.
 */
export function randomPrefix(base: string): string {
  return `${base}${randomBytes(3).toString('hex')}-`;
}

/** Names of the existing namespaces (optionally only those starting with `prefix`). */
export async function listNamespaces(prefix = ''): Promise<string[]> {
  const { stdout } = await sh('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .filter((name): name is string => Boolean(name) && name.startsWith(prefix));
}

export async function namespaceExists(name: string): Promise<boolean> {
  return (await listNamespaces()).includes(name);
}

/** `ip netns add` + loopback up. */
export async function addNamespace(name: string): Promise<void> {
  if (name.length === 0) throw new AnyturnError('ATN_ERR_LAB_SETUP', 'namespace name must not be empty');
  await sh('ip', ['netns', 'add', name]);
  await sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  // No duplicate address detection on the links made here later (their link-local addresses too, as the lab's
  // addresses are added `nodad`): an IPv6 address is usable the moment it exists, not a second later. Without this
  // the first IPv6 packets of a fresh lab could meet tentative link-local addresses (delivery took ~1 s once).
  await sh('sysctl', ['-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0'], { ns: name });
}

/** PIDs of the processes living in the namespace. */
export async function namespacePids(name: string): Promise<number[]> {
  const { stdout, code } = await sh('ip', ['netns', 'pids', name], { allowFail: true });
  if (code !== 0) return [];
  return stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Kills every process inside (SIGKILL), waits for them to go, then deletes the namespace. Idempotent. */
export async function deleteNamespace(name: string): Promise<void> {
  if (!(await namespaceExists(name))) return;
  const pids = await namespacePids(name);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (pids.length > 0) {
    await waitFor(`processes in netns ${name} to exit`, () => pids.every((p) => !processAlive(p)) || undefined, 5_000, 20);
  }
  await sh('ip', ['netns', 'del', name], { allowFail: true });
  if (await namespaceExists(name)) throw new AnyturnError('ATN_ERR_LAB_SETUP', `netns ${name} could not be deleted`);
}

/** A veth pair with one end in each namespace (`''` = root), both ends up. */
export async function addVeth(a: { ns: string; name: string }, b: { ns: string; name: string }): Promise<void> {
  for (const end of [a, b]) {
    if (end.name.length > 15) throw new AnyturnError('ATN_ERR_LAB_SETUP', `interface name too long: ${end.name}`);
  }
  const where = a.ns ? ['-n', a.ns] : [];
  const peerNs = b.ns ? ['netns', b.ns] : ['netns', '1'];
  await sh('ip', [...where, 'link', 'add', 'name', a.name, 'type', 'veth', 'peer', 'name', b.name, ...peerNs]);
  await sh('ip', [...where, 'link', 'set', 'dev', a.name, 'up']);
  await sh('ip', [...(b.ns ? ['-n', b.ns] : []), 'link', 'set', 'dev', b.name, 'up']);
}

/** Adds (replaces) an address on `dev` and sets the link up. */
export async function addAddress(ns: string, dev: string, cidr: string): Promise<void> {
  const where = ns ? ['-n', ns] : [];
  await sh('ip', [...where, 'addr', 'replace', cidr, 'dev', dev]);
  await sh('ip', [...where, 'link', 'set', 'dev', dev, 'up']);
}

/** `sysctl -w key=value` inside a namespace. */
export async function sysctl(ns: string, key: string, value: string | number): Promise<void> {
  await sh('sysctl', ['-q', '-w', `${key}=${value}`], { ns: ns || undefined });
}

/**
 * Starts a process inside a namespace. `ip netns exec` execs the command in place, so
 * the returned child's pid is the command's own pid (signals reach it directly).
 */
export function spawnIn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  if (!ns) return spawn(cmd, args, opts);
  return spawn('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Sends `signal` and resolves once the child has exited (immediately if it already has). */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/**
 * Polls `probe` until it returns something other than `undefined` (or `false`), then
 * resolves with it. A probe that throws counts as "not yet"; its last error is quoted
 * in the timeout message.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new AnyturnError('ATN_ERR_LAB_SETUP', `timed out after ${timeoutMs} ms waiting for ${what}${why}`, {
        cause: lastError,
      });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True while the process exists and is not a zombie (a zombie is gone for our purposes). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
