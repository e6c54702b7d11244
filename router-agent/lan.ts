/**
 * The LAN side of the PoP router, as I/O: reads the agent's own kernel objects with
 * `ip -N -j`, diffs them against the desired state (router-agent/lan-state.ts) and
 * applies only the difference. Never touches an object without the agent's mark.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { AnyturnError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { parseNeighs, parseNexthops, parseRoutes, parseRules } from './ip-json.js';
import {
  describeOp, desiredState, diffState, emptyState, opArgs, ownedState, type LanOp, type LanPlan, type LanState,
} from './lan-state.js';

export interface IpResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ip <args>`; never throws for a non-zero exit. */
export type IpRunner = (args: string[]) => Promise<IpResult>;

export const execIp: IpRunner = (args) =>
  new Promise((resolve) => {
    execFile('ip', args, { maxBuffer: 64 * 1024 * 1024, timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
    });
  });

/** Reads and writes `net.*` sysctls of the agent's own namespace. */
export interface Sysctl {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

export const procSysctl: Sysctl = {
  async get(key) {
    try {
      return (await readFile(`/proc/sys/${key.replaceAll('.', '/')}`, 'utf8')).trim();
    } catch {
      return undefined;
    }
  },
  async set(key, value) {
    await writeFile(`/proc/sys/${key.replaceAll('.', '/')}`, `${value}\n`);
  },
};

export interface ReconcileResult {
  /** Operations (and sysctl writes) that succeeded. */
  changes: number;
  /** Operations that failed (retried on the next pass). */
  failed: number;
  /** One line per applied or failed operation. */
  ops: string[];
  errors: string[];
}

/** L4 hashing for the ECMP group (fib_multipath_hash_policy=1), per family in use. */
const HASH_POLICY = { 4: 'net.ipv4.fib_multipath_hash_policy', 6: 'net.ipv6.fib_multipath_hash_policy' } as const;

export class LanMapper {
  readonly #plan: LanPlan;
  readonly #ip: IpRunner;
  readonly #sysctl: Sysctl;
  readonly #log: Logger;

  constructor(plan: LanPlan, deps: { log: Logger; ip?: IpRunner; sysctl?: Sysctl }) {
    this.#plan = plan;
    this.#ip = deps.ip ?? execIp;
    this.#sysctl = deps.sysctl ?? procSysctl;
    this.#log = deps.log;
  }

  get plan(): LanPlan {
    return this.#plan;
  }

  /** The agent's own objects as the kernel holds them now. */
  async readOwned(): Promise<LanState> {
    const p = String(this.#plan.protocol);
    const [neighs, rules4, rules6, routes4, routes6, nexthops] = await Promise.all([
      this.#json(['-N', '-j', 'neigh', 'show', 'dev', this.#plan.dev], true),
      this.#json(['-N', '-j', '-4', 'rule', 'show']),
      this.#json(['-N', '-j', '-6', 'rule', 'show']),
      this.#json(['-N', '-j', '-4', 'route', 'show', 'table', 'all', 'proto', p]),
      this.#json(['-N', '-j', '-6', 'route', 'show', 'table', 'all', 'proto', p]),
      this.#json(['-N', '-j', 'nexthop', 'list', 'protocol', p]),
    ]);
    const actual: LanState = {
      neighs: parseNeighs(neighs),
      rules: [...parseRules(rules4, 4), ...parseRules(rules6, 6)],
      routes: [...parseRoutes(routes4, 4, this.#plan.protocol), ...parseRoutes(routes6, 6, this.#plan.protocol)],
      nexthops: parseNexthops(nexthops),
    };
    return ownedState(actual, this.#plan, this.#plan.families.map((f) => f.broadcastNextHop));
  }

  /** The operations a reconcile would apply now (nothing is changed). */
  async plannedOps(healthy: ReadonlySet<string>): Promise<LanOp[]> {
    return diffState(desiredState(this.#plan, healthy), await this.readOwned());
  }

  /** Brings the kernel to the desired state for these healthy relays. */
  async reconcile(healthy: ReadonlySet<string>): Promise<ReconcileResult> {
    const result: ReconcileResult = { changes: 0, failed: 0, ops: [], errors: [] };
    for (const family of this.#plan.families) {
      const key = HASH_POLICY[family.family];
      const value = await this.#sysctl.get(key);
      if (value !== undefined && value !== '1') {
        try {
          await this.#sysctl.set(key, '1');
          result.changes++;
          result.ops.push(`set ${key}=1`);
        } catch (err) {
          this.#fail(result, `set ${key}=1`, (err as Error).message);
        }
      }
    }
    await this.#apply(desiredState(this.#plan, healthy), result);
    return result;
  }

  /** Removes every object the agent owns (the sysctl is left as it is). */
  async teardown(): Promise<ReconcileResult> {
    const result: ReconcileResult = { changes: 0, failed: 0, ops: [], errors: [] };
    await this.#apply(emptyState(), result);
    return result;
  }

  async #apply(desired: LanState, result: ReconcileResult): Promise<void> {
    const ops = diffState(desired, await this.readOwned());
    for (const op of ops) {
      const line = describeOp(op);
      const args = opArgs(op, this.#plan.dev);
      const r = await this.#ip(args);
      // Deleting something already gone is success: the kernel removes routes with their group.
      if (r.code === 0) {
        result.changes++;
        result.ops.push(line);
        this.#log.info({ op: line }, 'lan change');
      } else if (op.action === 'del' && /No such|not found|Cannot find/i.test(r.stderr)) {
        result.ops.push(`${line} (already gone)`);
      } else {
        this.#fail(result, line, `ip ${args.join(' ')}: ${r.stderr.trim()}`);
      }
    }
  }

  #fail(result: ReconcileResult, line: string, error: string): void {
    result.failed++;
    result.ops.push(`FAILED ${line}`);
    result.errors.push(error);
    this.#log.error({ op: line, err: error }, 'lan change failed');
  }

  async #json(args: string[], allowMissing = false): Promise<Record<string, unknown>[]> {
    const r = await this.#ip(args);
    if (r.code !== 0) {
      // The LAN device may be gone (then it has no neighbours); anything else is a real failure.
      if (allowMissing && /Cannot find device|does not exist/i.test(r.stderr)) return [];
      throw new AnyturnError('ATN_ERR_AGENT_COMMAND', `ip ${args.join(' ')}: ${r.stderr.trim()}`);
    }
    const text = r.stdout.trim();
    return text === '' ? [] : (JSON.parse(text) as Record<string, unknown>[]);
  }
}
