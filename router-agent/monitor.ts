/**
 * Netlink change feed: a long-running `ip monitor` whose output lines say "something
 * changed". Only lines that can concern the agent count (neighbour lines only for the
 * broadcast next hops, which the relays' own ARP traffic would otherwise flood).
 * The child is restarted if it dies; the reconcile timer covers the gap.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { TypedEmitter } from '../src/events.js';
import type { Logger } from '../src/log.js';

export type NetlinkMonitorEvents = {
  change: [line: string];
};

export interface NetlinkMonitorOptions {
  /** Neighbour lines only matter when they mention one of these addresses. */
  neighAddresses: readonly string[];
  restartDelayMs?: number;
}

const OBJECTS = ['link', 'route', 'rule', 'nexthop', 'neigh'];
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));

export class NetlinkMonitor extends TypedEmitter<NetlinkMonitorEvents> {
  readonly #options: NetlinkMonitorOptions;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #restart: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: NetlinkMonitorOptions, deps: { log: Logger }) {
    super();
    this.#options = options;
    this.#log = deps.log;
    this.logListenerErrorsTo(this.#log);
  }

  start(): void {
    if (this.#closed || this.#child) return;
    const ipArgs = ['-o', 'monitor', 'label', ...OBJECTS];
    // setpriv --pdeathsig: the monitor dies with the agent even when the agent is SIGKILLed.
    const child = SETPRIV
      ? spawn(SETPRIV, ['--pdeathsig', 'TERM', 'ip', ...ipArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('ip', ipArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (this.#relevant(line)) this.safeEmit('change', line);
    });
    child.stderr!.on('data', (d: Buffer) => this.#log.debug({ stderr: d.toString().trim() }, 'ip monitor'));
    child.on('error', (err) => this.#log.warn({ err: err.message }, 'ip monitor failed to start'));
    child.on('exit', (code, signal) => {
      this.#child = undefined;
      if (this.#closed) return;
      this.#log.warn({ code, signal }, 'ip monitor exited; restarting');
      this.#restart = setTimeout(() => {
        this.#restart = undefined;
        this.start();
      }, this.#options.restartDelayMs ?? 1000);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#restart) clearTimeout(this.#restart);
    this.#child?.kill('SIGTERM');
    this.#child = undefined;
  }

  #relevant(line: string): boolean {
    // `ip -o monitor label` prefixes each line with its object: [NEIGH], [ROUTE], [LINK], ...
    if (!line.startsWith('[NEIGH]')) return true;
    const rest = line.slice('[NEIGH]'.length).replace(/^Deleted /, '').replace(/^miss /, '');
    return this.#options.neighAddresses.some((a) => rest.startsWith(`${a} `));
  }
}
