/**
 * Monitoring files against the real tools: promtool accepts the rules and the example Prometheus config and
 * passes the rules' unit tests (test/deploy/anyturn.rules.test.yml); then a real Prometheus (Debian's) in a lab
 * PoP router namespace scrapes a real relay and the real router agent, the series the rules and the Grafana
 * dashboard use exist and move, every dashboard query is valid PromQL on live data, and AnyturnRelayDown and
 * AnyturnRelayUnhealthy fire once the relay is killed (the shipped rules with every `for` cut to 0s and 1 s
 * scrape/evaluation intervals, so the test does not wait minutes).
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { agentConfigYaml, labDown, labUp, type Lab, type LabPop } from '../lab/lab.js';
import { sh, spawnIn, stopChild, waitFor } from '../lab/netns.js';
import { startAnyturn, type LabProcess } from '../lab/proc.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const RULES = join(ROOT, 'deploy/prometheus/anyturn.rules.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/anyturn-dashboard.json');
const DOCUMENTED = new Set([...readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8').matchAll(/^\| `([a-z_:][a-z0-9_:]*)` \|/gm)].map((m) => m[1]));

interface Dashboard {
  templating: { list: { name: string }[] };
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const dashboardExprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));

/** The metric names an expression reads (not functions, labels or recording rules). */
function metricNames(expr: string): string[] {
  const noStrings = expr.replace(/"[^"]*"/g, '""').replace(/\{[^}]*\}/g, '{}');
  return [...noStrings.matchAll(/(?<![:\w])((?:turn|stun|anyturn)_[a-z0-9_]+)(?![:\w])/g)].map((m) => m[1]);
}

describe('rules, config and dashboard files', () => {
  it('promtool checks the rules and the example Prometheus config, and the rules pass their unit tests', async () => {
    const rules = await run('promtool', ['check', 'rules', RULES]);
    expect(rules.stdout).toMatch(/SUCCESS: \d+ rules found/);
    await run('promtool', ['check', 'config', join(ROOT, 'deploy/prometheus/prometheus.example.yml')]);
    const unit = await run('promtool', ['test', 'rules', 'anyturn.rules.test.yml'], { cwd: join(ROOT, 'test/deploy') }).catch(
      (err: { stdout?: string; stderr?: string }) => {
        throw new Error(`promtool test rules failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
      },
    );
    expect(unit.stdout).toContain('SUCCESS');
  });

  it('the rules alert on a dead relay, the cluster store down and every PoP withdrawn', () => {
    const doc = parseYaml(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert?: string; record?: string; expr: string }[] }[] };
    const alerts = doc.groups.flatMap((g) => g.rules).filter((r) => r.alert);
    expect(alerts.map((a) => a.alert)).toEqual(expect.arrayContaining([
      'AnyturnRelayDown', 'AnyturnClusterStoreDown', 'AnyturnEveryPopWithdrawn', 'AnyturnAgentDown',
    ]));
    const records = doc.groups.flatMap((g) => g.rules).filter((r) => r.record);
    expect(records.length).toBeGreaterThanOrEqual(5);
    const names = doc.groups.flatMap((g) => g.rules).flatMap((r) => metricNames(r.expr));
    expect(names.filter((n) => !DOCUMENTED.has(n))).toEqual([]);
  });

  it('the dashboard has per-PoP and per-relay panels that read only documented metrics', () => {
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(['datasource', 'pop', 'instance']));
    const titles = dashboard.panels.map((p) => p.title).join('\n');
    for (const want of [/load score/i, /allocations/i, /bandwidth/i, /races/i, /auth/i, /drops/i, /announce/i]) expect(titles).toMatch(want);
    expect(dashboardExprs.length).toBeGreaterThan(15);
    expect(dashboardExprs.flatMap((e) => metricNames(e.expr)).filter((n) => !DOCUMENTED.has(n))).toEqual([]);
  });
});

describe('a real Prometheus scraping a lab relay and agent', () => {
  const prefix = `atnm${randomBytes(2).toString('hex')}-`;
  let lab: Lab;
  let pop: LabPop;
  let dir: string;
  let prometheus: ChildProcess | undefined;
  const processes: LabProcess[] = [];
  let relay: LabProcess;

  async function api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const args = ['-sS', '--fail', '--max-time', '5', '--get', `http://127.0.0.1:9090${path}`];
    for (const [k, v] of Object.entries(params)) args.push('--data-urlencode', `${k}=${v}`);
    const { stdout } = await sh('curl', args, { ns: pop.ns });
    const body = JSON.parse(stdout) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error ?? stdout}`);
    return body.data;
  }
  type Vector = { metric: Record<string, string>; value: [number, string] }[];
  const query = (expr: string) => api<{ result: Vector }>('/api/v1/query', { query: expr }).then((d) => d.result);

  beforeAll(async () => {
    lab = await labUp({ prefix, relaysPerPop: 1, clients: 1 });
    pop = lab.pops[0];
    const r = pop.relays[0];
    dir = mkdtempSync(join(tmpdir(), 'anyturn-monitoring-'));

    relay = startAnyturn(r.ns, 'relay', [
      'relay', '--id', r.id, '--pop', pop.name, '--listen', r.address, '--anycast', lab.anycast, '--user', 'a:b', '--nonce-key', randomBytes(16).toString('hex'),
      '--metrics', `${r.address}:9641`, '--log-level', 'warn',
    ]);
    processes.push(relay);
    await relay.waitForEvent('ready', (e) => e.msg === 'ready', 20_000);

    const agentFile = join(dir, 'agent.yaml');
    writeFileSync(agentFile, agentConfigYaml(lab, pop, { extra: { metrics: '127.0.0.1:9101' } }));
    const agent = startAnyturn(pop.ns, 'agent', ['agent', '--config', agentFile, '--log-level', 'warn']);
    processes.push(agent);

    // The shipped rules, with every `for` cut to 0s: an alert fires at the first evaluation that sees it.
    const rules = parseYaml(readFileSync(RULES, 'utf8')) as { groups: { interval?: string; rules: { for?: string }[] }[] };
    for (const g of rules.groups) {
      delete g.interval;
      for (const rule of g.rules) if (rule.for !== undefined) rule.for = '0s';
    }
    writeFileSync(join(dir, 'rules.yml'), toYaml(rules));
    writeFileSync(join(dir, 'prometheus.yml'), toYaml({
      global: { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '900ms' },
      rule_files: [join(dir, 'rules.yml')],
      scrape_configs: [
        { job_name: 'anyturn-relay', static_configs: [{ targets: [`${r.address}:9641`] }] },
        { job_name: 'anyturn-agent', static_configs: [{ targets: ['127.0.0.1:9101'] }] },
      ],
    }));
    prometheus = spawnIn(pop.ns, 'prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      '--web.listen-address=127.0.0.1:9090', '--log.level=warn',
    ], { stdio: 'ignore' });
    await waitFor('Prometheus ready', async () => {
      if (prometheus!.exitCode !== null) throw new Error(`prometheus exited with ${prometheus!.exitCode}`);
      const { code } = await sh('curl', ['-sf', '--max-time', '2', 'http://127.0.0.1:9090/-/ready'], { ns: pop.ns, allowFail: true });
      return code === 0 || undefined;
    }, 30_000, 200);
  }, 120_000);

  afterAll(async () => {
    if (prometheus) await stopChild(prometheus, 'SIGTERM', 10_000);
    await Promise.all(processes.map((p) => p.stop('SIGTERM')));
    await labDown(prefix);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes both jobs; the relay and agent series exist and move', async () => {
    const up = await waitFor('both targets up', async () => {
      const v = await query('up');
      return v.length === 2 && v.every((s) => s.value[1] === '1') ? v : undefined;
    }, 20_000, 250);
    expect(up.map((s) => s.metric.job).sort()).toEqual(['anyturn-agent', 'anyturn-relay']);

    const build = await query('anyturn_build_info');
    expect(build.map((s) => s.metric.job).sort()).toEqual(['anyturn-agent', 'anyturn-relay']);
    expect(build[0].metric.version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await query('anyturn_relay_info'))[0].metric).toMatchObject({ id: pop.relays[0].id, pop: pop.name });
    expect((await query('anyturn_load_score')).length).toBe(1);
    await waitFor('the agent sees the relay healthy', async () => {
      const v = await query(`anyturn_agent_relay_up{relay="${pop.relays[0].id}"}`);
      return v[0]?.value[1] === '1' || undefined;
    }, 20_000, 250);

    // The agent's STUN health probes are traffic: the relay's packet counter grows from scrape to scrape.
    const packets = async () => Number((await query('turn_traffic_client_received_packets_total'))[0]?.value[1] ?? NaN);
    const first = await packets();
    expect(first).toBeGreaterThan(0);
    await waitFor('the packet counter to move', async () => ((await packets()) > first ? true : undefined), 20_000, 250);
  });

  it('every dashboard query is valid PromQL and most return data from the live fleet', async () => {
    let withData = 0;
    for (const { title, expr } of dashboardExprs) {
      const concrete = expr.replaceAll('$__rate_interval', '1m').replaceAll('$job', 'anyturn-relay').replace(/\$\w+/g, '.*');
      const result = await query(concrete).catch((err: Error) => {
        throw new Error(`${title}: ${concrete}: ${err.message}`);
      });
      if (result.length > 0) withData++;
    }
    // Queries on BGP (no BIRD in this lab) and on anycast kinds that have not happened may be empty.
    expect(withData).toBeGreaterThanOrEqual(dashboardExprs.length / 2);
  });

  it('AnyturnRelayDown and AnyturnRelayUnhealthy fire when the relay is killed', async () => {
    type Alerts = { alerts: { labels: Record<string, string>; state: string }[] };
    const firing = async () => (await api<Alerts>('/api/v1/alerts')).alerts.filter((a) => a.state === 'firing').map((a) => a.labels.alertname);
    expect(await firing()).not.toContain('AnyturnRelayDown');
    await relay.stop('SIGKILL');
    const fired = await waitFor('the alerts to fire', async () => {
      const names = await firing();
      return names.includes('AnyturnRelayDown') && names.includes('AnyturnRelayUnhealthy') ? names : undefined;
    }, 30_000, 250);
    expect(fired).toEqual(expect.arrayContaining(['AnyturnRelayDown', 'AnyturnRelayUnhealthy']));
  });
});
