/**
 * The BGP driver: turns a policy decision into BIRD 2 state through the agent's own
 * include file (bgp-include.ts) and `birdc configure` (soft reconfiguration: the BGP
 * sessions stay up while the prepend count or the announcement changes).
 *
 *   const bgp = new BgpDriver({ birdctlSocket: '/run/bird/bird.ctl', includeFile: '/etc/bird/anyturn.conf',
 *                               prefixes: ['198.18.0.1/32'], prependAs: 65001, log });
 *   await bgp.apply(decide(relays, thresholds, previous));
 *
 * apply() is serialised and idempotent: the file is rewritten (atomically, via rename)
 * and BIRD reconfigured only when the rendered text changes (and once after start, so a
 * restarted agent converges). When BIRD rejects the new configuration the previous file
 * is restored and ATN_ERR_BIRD_CONTROL carries birdc's text. When BIRD cannot be reached
 * the file stays (BIRD reads it when it starts) and the error is thrown as well; the next
 * apply() retries.
 */
import { execFile } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { AnyturnError } from '../src/errors.js';
import { TypedEmitter } from '../src/events.js';
import type { Logger } from '../src/log.js';
import { bgpSymbols, renderBgpInclude, type BgpRouting, type BgpSymbols } from './bgp-include.js';

export interface BgpDriverOptions {
  /** BIRD's control socket (`bird -s`). */
  birdctlSocket: string;
  /** The include file this driver owns (the operator's bird.conf includes it). */
  includeFile: string;
  /** Anycast prefixes of this PoP. */
  prefixes: readonly string[];
  /** AS prepended to de-prefer the PoP (the router's own AS). */
  prependAs: number;
  /** Prefix of the BIRD symbols (protocols, functions); default `anyturn`. */
  name?: string;
  /** Default `birdc`. */
  birdcPath?: string;
  /** Per birdc call; default 10 s. */
  timeoutMs?: number;
  log: Logger;
}

/** What apply() takes: a PolicyDecision fits. */
export interface BgpDecision extends BgpRouting {
  reason?: string;
}

export type ApplyResult = 'unchanged' | 'reconfigured';

/** One row of `birdc show protocols`. */
export interface BirdProtocolStatus {
  name: string;
  proto: string;
  table: string;
  /** up, down, start, ... */
  state: string;
  /** The since column as printed (depends on BIRD's `timeformat protocol`). */
  since: string;
  /** e.g. `Established`, `Active`, `Connect`. */
  info: string;
}

export type BgpDriverEvents = {
  announced: [decision: BgpDecision];
  withdrawn: [decision: BgpDecision];
};

export class BgpDriver extends TypedEmitter<BgpDriverEvents> {
  readonly symbols: BgpSymbols;
  readonly #opts: BgpDriverOptions;
  readonly #log: Logger;
  /** Text BIRD is known to run with; undefined until the first successful apply. */
  #applied: string | undefined;
  #current: BgpRouting | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: BgpDriverOptions) {
    super();
    this.#opts = { ...opts, prefixes: [...opts.prefixes] };
    this.#log = opts.log.child({ component: 'bgp' });
    this.logListenerErrorsTo(this.#log);
    this.symbols = bgpSymbols(opts);
    // Validate everything now, not on the first decision.
    renderBgpInclude(this.#opts, { action: 'withdraw', prepend: 0 });
  }

  /** The routing BIRD last accepted (undefined before the first apply). */
  get current(): BgpRouting | undefined {
    return this.#current === undefined ? undefined : { ...this.#current };
  }

  /** The include file text for a decision (what apply() would write). */
  render(decision: BgpRouting): string {
    return renderBgpInclude(this.#opts, decision);
  }

  apply(decision: BgpDecision): Promise<ApplyResult> {
    const run = this.#queue.then(() => this.#apply(decision));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Withdraws the prefixes (the include file stays, so the operator's config still parses). */
  async teardown(): Promise<void> {
    await this.apply({ action: 'withdraw', prepend: 0, reason: 'teardown' });
  }

  close(): void {
    this.#closed = true;
  }

  /** `birdc show protocols` parsed. */
  async protocols(): Promise<BirdProtocolStatus[]> {
    return parseShowProtocols(await this.birdc(['show', 'protocols']));
  }

  /** Runs one birdc command; its text without the banner. ATN_ERR_BIRD_CONTROL on failure. */
  birdc(args: string[]): Promise<string> {
    return runBirdc(this.#opts.birdcPath ?? 'birdc', this.#opts.birdctlSocket, args, this.#opts.timeoutMs ?? 10_000);
  }

  async #apply(decision: BgpDecision): Promise<ApplyResult> {
    if (this.#closed) throw new AnyturnError('ATN_ERR_INVALID_STATE', 'the BGP driver is closed');
    const routing: BgpRouting = { action: decision.action, prepend: decision.action === 'withdraw' ? 0 : decision.prepend };
    const text = renderBgpInclude(this.#opts, routing);
    if (text === this.#applied) return 'unchanged';
    const file = this.#opts.includeFile;
    const previous = await readFile(file, 'utf8').catch(() => undefined);
    if (previous !== text) {
      const tmp = `${file}.tmp-${process.pid}`;
      try {
        await writeFile(tmp, text, { mode: 0o644 });
        await rename(tmp, file);
      } catch (err) {
        throw new AnyturnError('ATN_ERR_BIRD_CONTROL', `cannot write the BIRD include file ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    try {
      const out = await this.birdc(['configure']);
      this.#log.debug({ out }, 'birdc configure');
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (previous !== undefined && previous !== text && !/Unable to connect|control socket/i.test(why)) {
        // BIRD refused the configuration: put back what it accepted before.
        await writeFile(file, previous, { mode: 0o644 }).catch(() => undefined);
      }
      this.#applied = undefined;
      throw err;
    }
    this.#applied = text;
    const before = this.#current;
    this.#current = routing;
    this.#log.info({ action: routing.action, prepend: routing.prepend, reason: decision.reason }, 'BGP announcement changed');
    if (before === undefined || before.action !== routing.action || before.prepend !== routing.prepend) {
      this.safeEmit(routing.action === 'announce' ? 'announced' : 'withdrawn', { ...decision, ...routing });
    }
    return 'reconfigured';
  }
}

const BANNER = /^BIRD [^\n]* ready\.\n?/;

export function runBirdc(birdc: string, socket: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(birdc, ['-s', socket, ...args], { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      const text = `${stdout}${stderr}`.replace(BANNER, '').trim();
      if (err) {
        const why = text !== '' ? text : err.message;
        reject(new AnyturnError('ATN_ERR_BIRD_CONTROL', `birdc ${args.join(' ')}: ${why}`, { cause: err }));
        return;
      }
      resolve(text);
    });
  });
}

/** Parses `show protocols` (columns: Name Proto Table State Since Info; Since may hold spaces). */
export function parseShowProtocols(text: string): BirdProtocolStatus[] {
  const out: BirdProtocolStatus[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('Name ') || line.startsWith('BIRD ')) continue;
    const m = /^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line.trimEnd());
    if (m === null) continue;
    const rest = m[5];
    // Since: `hh:mm:ss[.fff]`, `YYYY-MM-DD[ hh:mm:ss[.fff]]` or a custom format; Info follows after 2+ spaces.
    const split = /^(.*?)(?:\s{2,}(.*))?$/.exec(rest);
    out.push({
      name: m[1],
      proto: m[2],
      table: m[3],
      state: m[4],
      since: (split?.[1] ?? rest).trim(),
      info: (split?.[2] ?? '').trim(),
    });
  }
  return out;
}
