/**
 * The live page served by a real relay (`node dist/bin/anyturn.js relay --metrics 127.0.0.1:PORT`), loaded in
 * headless Chromium: the allocation count it renders follows a real Allocate (and its deletion), draining over
 * POST /drain shows, and with --redis the cluster tables list the relay's own heartbeat record.
 *
 * Escaping: relay ids and PoP names are restricted to [A-Za-z0-9._-] (the config refuses anything else, checked
 * below), so markup in them is tested at the unit level (test/unit/relay/http/status-page.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyturnBin } from '../../lab/proc.js';
import { TurnClient } from '../../support/turn-client.js';
import { freePort as freeRedisPort, RedisServer } from '../cluster/helpers.js';
import { freePorts, startRelayProcess, type RelayProcess } from './relay-process.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

const running: RelayProcess[] = [];
let context: BrowserContext;
let profile: string;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  profile = mkdtempSync(join(tmpdir(), 'atn-live-page-'));
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (err) => pageErrors.push(err.message));
});

afterAll(async () => {
  await Promise.all(running.map((r) => r.stop()));
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function startRelay(args: string[]): Promise<{ relay: RelayProcess; port: number; base: string }> {
  const [port, metricsPort] = await freePorts(2);
  const relay = await startRelayProcess([
    '--listen', '127.0.0.1', '--port', String(port), '--metrics', `127.0.0.1:${metricsPort}`, '--user', 'alice:alice-pass',
    '--min-port', '40000', '--max-port', '49999', ...args,
  ]);
  running.push(relay);
  return { relay, port, base: `http://127.0.0.1:${metricsPort}` };
}

const text = (selector: string): Promise<string> => page.locator(selector).innerText();

/** Polls the rendered text of `selector` until it equals `expected` (the page itself polls once a second). */
async function rendered(selector: string, expected: string): Promise<void> {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel)?.textContent === want,
    [selector, expected] as const,
  );
}

describe('live page of a relay without a cluster store', () => {
  let base: string;
  let port: number;

  beforeAll(async () => {
    ({ base, port } = await startRelay(['--id', 'live-1', '--pop', 'lab-pop', '--capacity', '4']));
  });

  it('renders this relay, then the allocation count follows an Allocate and its deletion', async () => {
    await page.goto(`${base}/`);
    await rendered('#relay-id', 'live-1');
    expect(await text('#relay-pop')).toBe('lab-pop');
    await rendered('#allocations', '0');
    expect(await text('#capacity')).toBe('4');
    expect(await text('#relay-state')).toBe('active');
    const listeners = await page.$$eval('#listeners tr', (trs) => trs.map((tr) => tr.textContent ?? ''));
    expect(listeners).toEqual([`UDPunicast127.0.0.1:${port}`, `TCPunicast127.0.0.1:${port}`]);
    expect(await text('#cluster-store')).toBe('in memory');

    const client = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username: 'alice', password: 'alice-pass' });
    try {
      await client.allocate();
      await rendered('#allocations', '1');
      expect(await text('#allocations-pct')).toBe('25.0% of capacity');
      // the bar follows: a quarter of the track
      await page.waitForFunction(() => parseFloat((document.getElementById('allocations-bar') as HTMLElement).style.width) === 25);
      expect(await client.refresh(0)).toBe(0);
      await rendered('#allocations', '0');
    } finally {
      await client.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('POST /drain turns the badge to draining, /undrain back to active', async () => {
    await page.goto(`${base}/status.html`);
    await rendered('#relay-state', 'active');
    expect((await fetch(`${base}/drain`, { method: 'POST' })).status).toBe(200);
    await rendered('#relay-state', 'draining');
    expect((await fetch(`${base}/undrain`, { method: 'POST' })).status).toBe(200);
    await rendered('#relay-state', 'active');
  });
});

describe('live page of a relay with --redis', () => {
  let redis: RedisServer | undefined;
  let base: string;
  let port: number;

  beforeAll(async () => {
    redis = new RedisServer(await freeRedisPort());
    await redis.start();
    ({ base, port } = await startRelay(['--id', 'live-2', '--pop', 'pop-b', '--redis', redis.url, '--capacity', '10']));
  });

  afterAll(async () => {
    await redis?.cleanup();
  });

  it('lists the relay and its PoP from the store, with the allocation the relay heartbeats', async () => {
    await page.goto(`${base}/`);
    await rendered('#cluster-store', 'redis connected');
    await page.waitForFunction(() => document.querySelectorAll('#relays tr.self').length === 1);
    const client = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username: 'alice', password: 'alice-pass' });
    try {
      await client.allocate();
      await rendered('#allocations', '1');
      // the store's record follows with the next heartbeat (1 s)
      await page.waitForFunction(() => {
        const cells = [...document.querySelectorAll('#relays tr.self td')].map((td) => td.textContent);
        return cells[0] === 'live-2' && cells[1] === 'pop-b' && cells[2] === 'active' && cells[4] === '1 / 10';
      });
      const pops = await page.$$eval('#pops tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      expect(pops).toHaveLength(1);
      expect(pops[0][0]).toBe('pop-b');
      expect(pops[0][1]).toBe('no agent'); // no router agent publishes for this PoP
      expect(pops[0][6]).toBe('1 / 10');
      const age = await page.$eval('#relays tr.self td:nth-child(7)', (td) => td.textContent ?? '');
      expect(Number(age.replace(' s', ''))).toBeLessThan(3.5); // heartbeat every second, TTL 3 s
    } finally {
      await client.close();
    }
    expect(pageErrors).toEqual([]);
  });
});

describe('relay ids and PoP names cannot carry markup', () => {
  it('the relay refuses --id and --pop outside [A-Za-z0-9._-] before it starts', async () => {
    for (const flag of ['--id', '--pop']) {
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        execFile(process.execPath, [anyturnBin(), 'relay', flag, '<b>x</b>'], { timeout: 15_000 }, (err, _out, stderr) =>
          resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr }),
        );
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('ATN_ERR_CONFIG_INVALID');
      expect(result.stderr).toContain(flag.slice(2));
    }
  });
});
