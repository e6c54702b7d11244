/**
 * The live page (relay/http/status-page.ts) as HttpServer serves it: a self-contained document whose CSP allows
 * exactly its own inline style and script; GET /cluster from a real MemoryClusterStore; and, in headless
 * Chromium, a page that renders what /status and /cluster say and puts hostile strings (a relay id, PoP name,
 * agent reason read from a shared store) into the DOM as text, never as markup.
 *
 * Relay ids and PoP names are restricted by the config schema ([A-Za-z0-9._-]) and by the store (checkId), so a
 * real relay cannot carry markup; the escaping is tested here, against a status and cluster view that do.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../../../src/cluster/memory-store.js';
import type { AnnouncementRecord, RelayRecord } from '../../../../src/cluster/types.js';
import { silentLogger } from '../../../../src/log.js';
import { HttpServer, type RelayStatus } from '../../../../relay/http/server.js';
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML, clusterView, type ClusterView } from '../../../../relay/http/status-page.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];
/** Would run script if it ever reached innerHTML; as text it must show up verbatim. */
const HOSTILE = `<img src=x onerror="window.__pwned=1"><b class="injected">x</b>&amp;<script>window.__pwned=2</script>`;

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const STATUS: RelayStatus = {
  id: 'r1',
  pop: 'ams',
  allocations: 3,
  capacity: 100,
  listeners: [{ protocol: 'udp', role: 'unicast', address: '127.0.0.1', port: 3478 }],
  uptimeSeconds: 3725,
  draining: false,
};

async function start(deps: { status?: () => RelayStatus; cluster?: () => ClusterView } = {}): Promise<string> {
  server = new HttpServer(
    { address: '127.0.0.1', port: 0 },
    { registry: new Registry(), status: deps.status ?? (() => STATUS), log: silentLogger(), cluster: deps.cluster },
  );
  await server.listen();
  server.setReady(true);
  return `http://127.0.0.1:${server.localPort}`;
}

const hashOf = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

function inline(tag: 'style' | 'script'): string[] {
  return [...STATUS_PAGE_HTML.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]);
}

function relayRecord(over: Partial<RelayRecord>): RelayRecord {
  return {
    id: 'r1', pop: 'ams', addresses: [], capacity: 100, allocations: 0, load: 0, bandwidthBps: 0, state: 'active',
    updatedAt: 0, ttlMs: 3000, ...over,
  };
}

function announcement(over: Partial<AnnouncementRecord>): AnnouncementRecord {
  return {
    pop: 'ams', agent: 'a1', action: 'announce', prepend: 0, reason: 'ok', prefixes: ['192.0.2.0/24'], load: 0,
    updatedAt: 0, ttlMs: 10_000, ...over,
  };
}

describe('status page document', () => {
  it('is self-contained: one inline style, one inline script, no external reference', () => {
    expect(inline('style')).toHaveLength(1);
    expect(inline('script')).toHaveLength(1);
    expect(STATUS_PAGE_HTML).not.toMatch(/https?:\/\//);
    expect(STATUS_PAGE_HTML).not.toMatch(/\bsrc=/);
    expect(STATUS_PAGE_HTML).not.toMatch(/@import|url\(/);
    expect([...STATUS_PAGE_HTML.matchAll(/<link [^>]*>/g)].map((m) => m[0])).toEqual(['<link rel="icon" href="data:,">']);
    // every href is relative to the page (status, cluster, metrics, healthz)
    for (const m of STATUS_PAGE_HTML.matchAll(/href="([^"]*)"/g)) expect(m[1]).toMatch(/^(data:,|[a-z]+)$/);
  });

  it('the data goes in through textContent only, never innerHTML or document.write', () => {
    const script = inline('script')[0];
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    expect(script).toContain('textContent');
  });

  it('CSP allows exactly the inline style and script (by hash) and same-origin fetches', () => {
    expect(STATUS_PAGE_CSP).toContain("default-src 'none'");
    expect(STATUS_PAGE_CSP).toContain(`style-src ${hashOf(inline('style')[0])}`);
    expect(STATUS_PAGE_CSP).toContain(`script-src ${hashOf(inline('script')[0])}`);
    expect(STATUS_PAGE_CSP).toContain("connect-src 'self'");
    expect(STATUS_PAGE_CSP).not.toContain('unsafe');
  });
});

describe('HttpServer: GET / and /cluster', () => {
  it('serves the page on / and /status.html with its CSP; HEAD has no body; POST is 405', async () => {
    const base = await start();
    for (const path of ['/', '/status.html', '/?refresh=1']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('content-security-policy')).toBe(STATUS_PAGE_CSP);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toBe(STATUS_PAGE_HTML);
    }
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await fetch(`${base}/`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET']);
  });

  it('/cluster is 404 when no store is wired', async () => {
    const base = await start();
    expect((await fetch(`${base}/cluster`)).status).toBe(404);
  });

  it('/cluster answers the store view: PoP summaries, relays, announcements, the relay clock', async () => {
    const now = 1_700_000_000_000;
    const store = new MemoryClusterStore({ clock: { now: () => now } });
    await store.start();
    await store.heartbeat(
      { id: 'r1', pop: 'ams', addresses: [], capacity: 100, allocations: 7, load: 0.25, bandwidthBps: 8000, state: 'active' },
      3000,
    );
    await store.publishAnnouncement(
      { pop: 'ams', agent: 'router-1', action: 'announce', prepend: 1, reason: 'load 0.25', prefixes: ['192.0.2.0/24'], load: 0.25 },
      10_000,
    );
    const base = await start({ cluster: () => clusterView(store, now) });
    const res = await fetch(`${base}/cluster`);
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/json']);
    const view = (await res.json()) as ClusterView;
    expect(view).toMatchObject({ store: 'memory', connection: 'up', now });
    expect(view.relays).toEqual([expect.objectContaining({ id: 'r1', pop: 'ams', allocations: 7, updatedAt: now, state: 'active' })]);
    expect(view.announcements).toEqual([expect.objectContaining({ pop: 'ams', agent: 'router-1', action: 'announce', prepend: 1 })]);
    expect(view.popSummaries).toEqual([
      expect.objectContaining({ pop: 'ams', relays: 1, activeRelays: 1, allocations: 7, capacity: 100, announcements: view.announcements }),
    ]);
    expect((await fetch(`${base}/cluster`, { method: 'POST' })).status).toBe(405);
    await store.close();
  });
});

describe('status page in headless Chromium', () => {
  let context: BrowserContext;
  let profile: string;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    profile = mkdtempSync(join(tmpdir(), 'atn-status-page-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      // a 404 for /cluster (no store wired) is expected
      if (msg.type() === 'error' && !msg.text().includes('404 (Not Found)')) problems.push(`console: ${msg.text()}`);
    });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const text = (selector: string): Promise<string> => page.locator(selector).innerText();
  const rows = (tbody: string): Promise<string[][]> =>
    page.$$eval(`#${tbody} tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));

  it('renders a hostile relay id, PoP, agent and reason as text: no element, no script runs', async () => {
    const now = 1_700_000_000_000;
    const status: RelayStatus = {
      ...STATUS, id: HOSTILE, pop: `${HOSTILE}pop`, allocations: 42, capacity: 50, state: 'full', load: 1,
      relayedBytes: { received: 1000, sent: 2000 },
    };
    const view: ClusterView = {
      store: 'redis', connection: 'up', now,
      relays: [
        relayRecord({ id: HOSTILE, pop: `${HOSTILE}pop`, allocations: 42, capacity: 50, load: 1, state: 'full', updatedAt: now - 1500 }),
        relayRecord({ id: 'r2', pop: 'fra', state: 'draining', updatedAt: now - 400 }),
      ],
      announcements: [],
      popSummaries: [
        {
          pop: `${HOSTILE}pop`, relays: 1, activeRelays: 0, drainingRelays: 0, fullRelays: 1, allocations: 42, capacity: 50,
          load: 1, bandwidthBps: 0, announcements: [announcement({ pop: `${HOSTILE}pop`, agent: HOSTILE, action: 'withdraw', reason: HOSTILE })],
        },
        {
          pop: 'fra', relays: 1, activeRelays: 0, drainingRelays: 1, fullRelays: 0, allocations: 0, capacity: 100, load: 0,
          bandwidthBps: 0, announcements: [announcement({ pop: 'fra', prepend: 2 })],
        },
      ],
    };
    view.announcements = view.popSummaries.flatMap((p) => p.announcements);
    const base = await start({ status: () => status, cluster: () => view });
    await page.goto(`${base}/`);
    problems.length = 0;
    await page.waitForFunction((id) => document.getElementById('relay-id')?.textContent === id, HOSTILE);
    await page.waitForFunction(() => document.querySelectorAll('#relays tr').length === 2);

    expect(await page.locator('#relay-pop').textContent()).toBe(`${HOSTILE}pop`);
    expect(await page.title()).toBe(`${HOSTILE} · anyturn relay`);
    expect(await text('#relay-state')).toBe('full');
    expect(await text('#allocations')).toBe('42');
    expect(await text('#capacity')).toBe('50');
    expect(await text('#load')).toBe('1.00');
    expect(await text('#uptime')).toBe('1h 2m');
    const relays = await rows('relays');
    expect(relays.map((r) => [r[0], r[1], r[2], r[4], r[6]])).toEqual([
      [HOSTILE, `${HOSTILE}pop`, 'full', '42 / 50', '1.5 s'],
      ['r2', 'fra', 'draining', '0 / 100', '0.4 s'],
    ]);
    const pops = await rows('pops');
    expect(pops.map((r) => [r[0], r[1], r[8]])).toEqual([
      [`${HOSTILE}pop`, 'withdrawn', `${HOSTILE}: ${HOSTILE}`],
      ['fra', 'prepend 2', 'a1: ok'],
    ]);
    // nothing from the data became an element, nothing ran
    expect(await page.evaluate(() => document.querySelectorAll('img, b.injected, body script').length)).toBe(1); // the page's own script
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await text('#cluster-store')).toBe('redis connected');
    expect(problems).toEqual([]);
  });

  it('computes relayed bandwidth from the byte counters between polls; shows "unreachable" when the relay goes away', async () => {
    let polls = 0;
    const status = (): RelayStatus => {
      polls += 1;
      // 1.25 MB more per poll in, 2.5 MB out: about 10 and 20 Mbit/s at one poll a second
      return { ...STATUS, draining: true, state: 'draining', relayedBytes: { received: polls * 1_250_000, sent: polls * 2_500_000 } };
    };
    const base = await start({ status });
    await page.goto(`${base}/status.html`);
    problems.length = 0;
    await page.waitForFunction(() => document.getElementById('bw-in-unit')?.textContent === 'Mbit/s');
    const inMbit = Number(await text('#bw-in'));
    const outMbit = Number(await text('#bw-out'));
    expect(inMbit).toBeGreaterThan(5);
    expect(inMbit).toBeLessThan(15);
    expect(outMbit / inMbit).toBeCloseTo(2, 0);
    expect(await text('#relay-state')).toBe('draining');
    expect(await page.locator('#cluster').isHidden()).toBe(true); // /cluster is 404 here
    await server!.close();
    await page.waitForFunction(() => document.getElementById('relay-state')?.textContent === 'unreachable');
    expect(await text('#updated')).toMatch(/^relay unreachable · last data /);
    expect(problems.filter((p) => !p.includes('ERR_CONNECTION_REFUSED'))).toEqual([]);
  });

  it('a relay without a shared store says so and hides the cluster tables', async () => {
    const store = new MemoryClusterStore();
    await store.start();
    const base = await start({ cluster: () => clusterView(store, Date.now()) });
    await page.goto(`${base}/`);
    problems.length = 0;
    await page.waitForFunction(() => document.getElementById('cluster-store')?.textContent === 'in memory');
    expect(await page.locator('#cluster').isVisible()).toBe(true);
    expect(await page.locator('#cluster-tables').isHidden()).toBe(true);
    expect(await text('#cluster-note')).toContain('without --redis');
    await store.close();
  });
});
