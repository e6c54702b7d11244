/**
 * Processes the lab and the tests start inside namespaces: the stand-in STUN responder,
 * `anyturn relay`, `anyturn agent`. A LabProcess collects stdout lines (parsed as JSON
 * when they are) so a test can wait for a real signal instead of sleeping.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sh, spawnIn, stopChild, waitFor } from './netns.js';

/** The repository root (works from test/lab/*.ts and from dist/test/lab/*.js). */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = resolve(here, '..', '..');
  return root.endsWith(`${'/'}dist`) ? resolve(root, '..') : root;
}

/** `dist/bin/anyturn.js` (built by `npx tsc`; tests never build it themselves). */
export function anyturnBin(): string {
  return resolve(repoRoot(), 'dist', 'bin', 'anyturn.js');
}

/** `dist/test/lab/stun-responder.js`. */
export function stunResponderBin(): string {
  return resolve(repoRoot(), 'dist', 'test', 'lab', 'stun-responder.js');
}

export interface LabProcessOptions {
  /** Give the process a stdin pipe (for `write()`); default: none. */
  stdin?: boolean;
}

export class LabProcess {
  readonly child: ChildProcess;
  readonly name: string;
  /** stdout lines, in order. */
  readonly lines: string[] = [];
  /** stdout lines that parsed as JSON objects. */
  readonly events: Record<string, unknown>[] = [];
  stderr = '';

  constructor(name: string, ns: string, cmd: string, args: string[], options: LabProcessOptions = {}) {
    this.name = name;
    this.child = spawnIn(ns, cmd, args, { stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    this.child.stdin?.on('error', () => {}); // EPIPE after the process exited: its exit is what we report
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(line);
      if (line.startsWith('{')) {
        try {
          this.events.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON after all
        }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  get exited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Resolves with the first event matching `match` (already seen or still to come). */
  waitForEvent(what: string, match: (e: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    return waitFor(`${this.name}: ${what}`, () => {
      const found = this.events.find(match);
      if (found) return found;
      if (this.exited) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim()}`);
      return undefined;
    }, timeoutMs, 20);
  }

  /** Resolves with the first stdout line from index `from` on that matches `pattern`. */
  waitForLine(what: string, pattern: RegExp, timeoutMs = 10_000, from = 0): Promise<RegExpMatchArray> {
    return waitFor(`${this.name}: ${what}`, () => {
      for (let i = from; i < this.lines.length; i++) {
        const m = pattern.exec(this.lines[i]);
        if (m) return m;
      }
      if (this.exited) throw new Error(`${this.name} exited (${this.child.exitCode ?? this.child.signalCode}): ${this.stderr.trim()}`);
      return undefined;
    }, timeoutMs, 20);
  }

  /** Writes to the process's stdin (started with `stdin: true`). */
  write(text: string): void {
    if (!this.child.stdin) throw new Error(`${this.name} was started without stdin`);
    this.child.stdin.write(text);
  }

  /** Resolves with the exit code once the process has exited. */
  exit(timeoutMs = 30_000): Promise<number | null> {
    return waitFor(`${this.name} to exit`, () => (this.exited ? { code: this.child.exitCode } : undefined), timeoutMs, 20)
      .then((r) => r.code);
  }

  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return stopChild(this.child, signal);
  }
}

/** The stand-in relay: STUN Binding on UDP, a name on TCP, every datagram reported. */
export async function startStunResponder(
  ns: string,
  name: string,
  listen: { udp?: string[]; tcp?: string[] },
): Promise<LabProcess> {
  const args = [stunResponderBin(), '--name', name];
  for (const u of listen.udp ?? []) args.push('--udp', u);
  for (const t of listen.tcp ?? []) args.push('--tcp', t);
  const p = new LabProcess(name, ns, process.execPath, args);
  await p.waitForEvent('ready', (e) => e.event === 'ready');
  return p;
}

/** `node dist/bin/anyturn.js <args>` inside `ns`. */
export function startAnyturn(ns: string, name: string, args: string[]): LabProcess {
  return new LabProcess(name, ns, process.execPath, [anyturnBin(), ...args]);
}

/** Runs an ES module script with this Node inside `ns`; resolves with its stdout (throws on a non-zero exit). */
export async function nodeIn(ns: string, script: string, timeoutMs = 15_000): Promise<string> {
  const { stdout } = await sh(process.execPath, ['--input-type=module', '-e', script], { ns, timeoutMs });
  return stdout;
}
