/**
 * Bench options: defaults sized for a full run in about 5 minutes, overridable by environment variables
 * (BENCH_*) or flags (`npm run bench -- --step-ms=1000`). Flags win over the environment.
 */
import { SERVER_KINDS, type ServerKind } from './servers.js';

export interface BenchOptions {
  servers: ServerKind[];
  /** Idle allocations created in the burst (Allocate rate) and held while weighing the server's memory. */
  idleAllocations: number;
  warmupAllocations: number;
  allocConcurrency: number;
  /** Allocations carrying traffic in the throughput and latency phases (one client and one peer socket each). */
  flows: number;
  /** Of those, flows whose peer is read by the generator (latency, echo); the others are kernel-counted sinks. */
  readerFlows: number;
  payloadBytes: number;
  stepMs: number;
  drainMs: number;
  startPps: number;
  maxPps: number;
  stepFactor: number;
  /** Loss threshold for a step to pass, in percent. */
  lossPct: number;
  /** Upper bound on the throughput search per server, in seconds of sending. */
  searchBudgetS: number;
  /** The search stops when the failing rate is within this factor of the passing one. */
  searchPrecision: number;
  latencyPps: number;
  latencyMs: number;
  /** Before each server, wait up to this long for the host to be quiet (< 15 % busy). */
  quietWaitS: number;
  profile: 'auto' | 'on' | 'off';
  profileMs: number;
  /** The anyturn CLI to run ('' = this checkout's dist/bin/anyturn.js), e.g. another build to compare. */
  anyturnCli: string;
  /** Where to write the report; '' to only print it. */
  out: string;
  address: string;
  minPort: number;
  maxPort: number;
}

const DEFAULTS: BenchOptions = {
  servers: [...SERVER_KINDS],
  idleAllocations: 5000,
  warmupAllocations: 200,
  allocConcurrency: 64,
  flows: 32,
  readerFlows: 4,
  payloadBytes: 200,
  stepMs: 2000,
  drainMs: 300,
  startPps: 10_000,
  maxPps: 1_000_000,
  stepFactor: 1.5,
  lossPct: 0.1,
  searchBudgetS: 30,
  searchPrecision: 1.08,
  latencyPps: 5000,
  latencyMs: 3000,
  quietWaitS: 60,
  profile: 'auto',
  profileMs: 5000,
  anyturnCli: '',
  out: 'docs/benchmarks.md',
  address: '127.0.0.1',
  minPort: 10000,
  maxPort: 21999,
};

/** Smaller and shorter, for developing the harness (`--quick`). */
const QUICK: Partial<BenchOptions> = {
  idleAllocations: 1000,
  warmupAllocations: 100,
  stepMs: 1000,
  searchBudgetS: 10,
  latencyMs: 1000,
  profileMs: 2000,
};

const NAMES: Record<string, keyof BenchOptions> = {
  servers: 'servers',
  'idle-allocs': 'idleAllocations',
  'warmup-allocs': 'warmupAllocations',
  'alloc-concurrency': 'allocConcurrency',
  flows: 'flows',
  'reader-flows': 'readerFlows',
  payload: 'payloadBytes',
  'step-ms': 'stepMs',
  'drain-ms': 'drainMs',
  'start-pps': 'startPps',
  'max-pps': 'maxPps',
  'step-factor': 'stepFactor',
  'loss-pct': 'lossPct',
  'search-budget-s': 'searchBudgetS',
  'search-precision': 'searchPrecision',
  'latency-pps': 'latencyPps',
  'latency-ms': 'latencyMs',
  'quiet-wait-s': 'quietWaitS',
  profile: 'profile',
  'profile-ms': 'profileMs',
  'anyturn-cli': 'anyturnCli',
  out: 'out',
  address: 'address',
  'min-port': 'minPort',
  'max-port': 'maxPort',
};

export const USAGE = `npm run bench [-- options]   (each option also as env BENCH_<NAME>, e.g. BENCH_STEP_MS=1000)
  --servers=${SERVER_KINDS.join(',')}
  --idle-allocs=N --warmup-allocs=N --alloc-concurrency=N
  --flows=N --reader-flows=N --payload=BYTES --step-ms=MS --drain-ms=MS --start-pps=N --max-pps=N --step-factor=F
  --loss-pct=P --search-budget-s=S --search-precision=F --latency-pps=N --latency-ms=MS
  --quiet-wait-s=S --profile=auto|on|off --profile-ms=MS --anyturn-cli=PATH --out=FILE ('' = print only) --address=IP --min-port=N --max-port=N
  --quick (smaller, shorter run for development)`;

function setOption(o: BenchOptions, key: keyof BenchOptions, raw: string): void {
  switch (key) {
    case 'servers': {
      const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
      for (const s of list) {
        if (!(SERVER_KINDS as readonly string[]).includes(s)) throw new Error(`unknown server "${s}" (${SERVER_KINDS.join(', ')})`);
      }
      o.servers = list as ServerKind[];
      return;
    }
    case 'profile':
      if (raw !== 'auto' && raw !== 'on' && raw !== 'off') throw new Error(`profile must be auto, on or off`);
      o.profile = raw;
      return;
    case 'out':
    case 'address':
    case 'anyturnCli':
      o[key] = raw;
      return;
    default: {
      const n = Number(raw);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${key} must be a non-negative number, got "${raw}"`);
      o[key] = n;
    }
  }
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const o: BenchOptions = { ...DEFAULTS, servers: [...DEFAULTS.servers] };
  const quick = argv.includes('--quick') || env.BENCH_QUICK === '1';
  if (quick) Object.assign(o, QUICK);
  for (const [flag, key] of Object.entries(NAMES)) {
    const v = env[`BENCH_${flag.toUpperCase().replace(/-/g, '_')}`];
    if (v !== undefined) setOption(o, key, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') continue;
    if (a === '--help' || a === '-h') throw new Error(USAGE);
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    const key = m ? NAMES[m[1]] : undefined;
    if (!m || key === undefined) throw new Error(`unknown option ${a}\n${USAGE}`);
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`option ${a} needs a value`);
    setOption(o, key, value);
  }
  if (o.minPort >= o.maxPort) throw new Error('min-port must be below max-port');
  if (o.maxPort - o.minPort + 1 < o.idleAllocations + o.flows + o.warmupAllocations) {
    throw new Error('the relay port range is smaller than the allocations the bench creates');
  }
  return o;
}
