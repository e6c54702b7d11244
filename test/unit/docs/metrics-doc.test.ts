/**
 * docs/metrics.md is a contract: every metric the relay and the agent register is listed there with its type,
 * labels and fixed label values, and nothing else is. Each component's metrics are built here in a fresh
 * prom-client Registry (as relay/daemon.ts, relay/anycast/setup.ts and router-agent/main.ts build them); the
 * default process_/nodejs_ metrics are left out. The PromQL and alert-rule examples may only name real metrics.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { AnycastMetrics, registerAnycastMetrics } from '../../../relay/anycast/metrics.js';
import { StreamMetrics } from '../../../relay/listen/stream-metrics.js';
import { RelayMetrics } from '../../../relay/metrics.js';
import { OverlayMetrics } from '../../../relay/overlay/metrics.js';
import { OffloadMetrics } from '../../../relay/offload/offload-metrics.js';
import { registerRelayInfoMetrics } from '../../../relay/relay-info-metrics.js';
import { registerBuildInfo } from '../../../src/build/build-info-metric.js';
import { BgpMetrics } from '../../../router-agent/bgp-metrics.js';
import { AgentMetrics } from '../../../router-agent/metrics.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DOC = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
const DEFAULT_METRIC = /^(process_|nodejs_)/;

interface Registered {
  component: string;
  type: string;
  labelNames: string[];
  /** label -> values the metric reports after construction (fixed sets are filled at scrape time). */
  values: Map<string, Set<string>>;
}

async function collect(component: string, registry: Registry, into: Map<string, Registered>): Promise<void> {
  for (const m of await registry.getMetricsAsJSON()) {
    if (DEFAULT_METRIC.test(m.name)) continue;
    expect(into.has(m.name), `${m.name} registered by two components`).toBe(false);
    const metric = registry.getSingleMetric(m.name) as unknown as { labelNames?: readonly string[] };
    const values = new Map<string, Set<string>>();
    for (const v of m.values) {
      for (const [label, value] of Object.entries(v.labels)) {
        if (!values.has(label)) values.set(label, new Set());
        values.get(label)!.add(String(value));
      }
    }
    into.set(m.name, { component, type: String(m.type), labelNames: [...(metric.labelNames ?? [])], values });
  }
}

/** Every metric of every component, each built in its own fresh registry. */
async function registeredMetrics(): Promise<Map<string, Registered>> {
  const out = new Map<string, Registered>();

  const build = new Registry(); // the relay and the agent both register it (relay/daemon.ts, router-agent/main.ts)
  registerBuildInfo(build);
  await collect('build', build, out);

  const relay = new Registry();
  new RelayMetrics(relay);
  await collect('relay', relay, out);

  const offload = new Registry();
  new OffloadMetrics(offload);
  await collect('offload', offload, out);

  const info = new Registry();
  registerRelayInfoMetrics(info, {
    id: 'r1', pop: 'p1', capacity: 10, storeUp: () => true, draining: () => false, udpIo: 'native',
  });
  await collect('relay-info', info, out);

  const streams = new Registry();
  new StreamMetrics(streams);
  await collect('streams', streams, out);

  const anycast = new Registry();
  registerAnycastMetrics(anycast, {
    metrics: new AnycastMetrics(),
    load: { score: () => 0, components: () => ({ allocations: 0, bandwidth: 0, lag: 0, memory: 0 }) },
    drain: { isDraining: false },
    pending: () => 0,
    budget: { balance: 0 },
    group: { peers: 0, loadStep: 0, count: () => 0 },
  });
  await collect('anycast', anycast, out);

  const overlay = new Registry();
  new OverlayMetrics(overlay, { up: () => 0, rttSeconds: () => undefined }, () => 0);
  await collect('overlay', overlay, out);

  const agent = new AgentMetrics('pop-a');
  await collect('agent', agent.registry, out);

  const bgp = new Registry(); // router-agent/main.ts puts these on the agent's registry
  new BgpMetrics(bgp);
  await collect('bgp', bgp, out);
  return out;
}

interface Documented {
  name: string;
  type: string;
  labels: Map<string, string[]>;
  line: number;
}

/** Table rows whose first cell is one backticked metric name: | `name` | type | labels | meaning | coturn | */
function documentedMetrics(): Documented[] {
  const out: Documented[] = [];
  DOC.split('\n').forEach((line, i) => {
    const cells = line.split('|').map((c) => c.trim());
    const name = /^`([a-z_:][a-z0-9_:]*)`$/.exec(cells[1] ?? '')?.[1];
    if (name === undefined || cells.length < 5 || !/^(counter|gauge|histogram|summary)$/.test(cells[2])) return;
    const labels = new Map<string, string[]>();
    if (cells[3] !== '–') {
      for (const part of cells[3].split(';')) {
        const ticks = [...part.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
        expect(ticks.length, `docs/metrics.md:${i + 1}: label part '${part}' names no label`).toBeGreaterThan(0);
        labels.set(ticks[0], ticks.slice(1));
      }
    }
    out.push({ name, type: cells[2], labels, line: i + 1 });
  });
  return out;
}

/** Metric-looking names in the fenced PromQL and YAML examples. */
function namesInExamples(): Set<string> {
  const names = new Set<string>();
  for (const block of DOC.matchAll(/```(promql|yaml)\n([\s\S]*?)```/g)) {
    for (const m of block[2].matchAll(/\b((?:turn|stun|anyturn)_[a-z0-9_]+)\b/g)) names.add(m[1]);
  }
  return names;
}

/** `(turn|stun|anyturn)_*` string literals in the source files that use prom-client. */
function metricNamesInSources(): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        if (!text.includes("from 'prom-client'")) continue;
        for (const m of text.matchAll(/'((?:turn|stun|anyturn)_[a-z0-9_]+)'/g)) found.set(m[1], path.slice(ROOT.length + 1));
      }
    }
  };
  for (const dir of ['relay', 'router-agent', 'src']) walk(join(ROOT, dir));
  return found;
}

describe('docs/metrics.md', () => {
  it('lists every registered metric, and only those', async () => {
    const registered = await registeredMetrics();
    const documented = documentedMetrics();
    const docNames = documented.map((d) => d.name);
    expect(new Set(docNames).size, 'a metric is listed twice').toBe(docNames.length);
    const missing = [...registered.keys()].filter((n) => !docNames.includes(n));
    const unknown = docNames.filter((n) => !registered.has(n));
    expect(missing, 'registered but missing from docs/metrics.md').toEqual([]);
    expect(unknown, 'listed in docs/metrics.md but not registered').toEqual([]);
    expect(registered.size).toBeGreaterThanOrEqual(30); // the collection itself works
  });

  it('gives each metric its type, label names and fixed label values', async () => {
    const registered = await registeredMetrics();
    for (const doc of documentedMetrics()) {
      const reg = registered.get(doc.name)!;
      const where = `docs/metrics.md:${doc.line} ${doc.name}`;
      expect(doc.type, where).toBe(reg.type);
      expect([...doc.labels.keys()].sort(), `${where}: labels`).toEqual([...reg.labelNames].sort());
      for (const [label, values] of doc.labels) {
        if (values.length === 0) continue; // free values (relay ids from the config)
        expect([...new Set(values)].sort(), `${where}: values of ${label}`).toEqual([...(reg.values.get(label) ?? [])].sort());
      }
    }
  });

  it('the agent metrics carry the pop label', async () => {
    const registered = await registeredMetrics();
    const agent = [...registered.entries()].filter(([, r]) => r.component === 'agent' || r.component === 'bgp');
    expect(agent.length).toBeGreaterThan(0);
    const agentMetrics = new AgentMetrics('pop-x');
    new BgpMetrics(agentMetrics.registry);
    const text = await agentMetrics.registry.metrics();
    expect(text).toContain('anyturn_agent_bgp_decisions_total{action="announce",pop="pop-x"} 0');
    expect(DOC).toContain('carries the label `pop`');
  });

  it('every metric-like name in the sources that use prom-client is one of the components built here', async () => {
    const registered = await registeredMetrics();
    const strays = [...metricNamesInSources()].filter(([name]) => !registered.has(name)).map(([n, f]) => `${n} (${f})`);
    expect(strays, 'a metric defined outside the components this test builds: add it here and to the doc').toEqual([]);
  });

  it('the PromQL examples and the shipped alert rules name only real metrics', async () => {
    const registered = await registeredMetrics();
    const names = namesInExamples();
    expect(names.size).toBeGreaterThan(15);
    const rulesText = readFileSync(join(ROOT, 'deploy', 'prometheus', 'anyturn.rules.yml'), 'utf8');
    for (const m of rulesText.matchAll(/(?<![:\w])((?:turn|stun|anyturn)_[a-z0-9_]+)(?![:\w])/g)) names.add(m[1]);
    expect([...names].filter((n) => !registered.has(n))).toEqual([]);
    const rules = parseYaml(rulesText) as { groups: { name: string; rules: { alert?: string; expr: string }[] }[] };
    const alerts = rules.groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    for (const rule of alerts) {
      expect(rule.alert).toMatch(/^Anyturn[A-Za-z]+$/);
      expect(rule.expr.length).toBeGreaterThan(0);
    }
  });
});
