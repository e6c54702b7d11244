/**
 * The daemon as an operator meets it: `npm start` (no credentials configured) prints usable turn: URIs with a
 * test credential; bad config stops start-up with the key and reason; SIGTERM stops it cleanly; /metrics and
 * /healthz answer. Runs the compiled dist/bin/anyturn.js (built by pretest).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anyturnBin, type LabProcess } from '../../lab/proc.js';
import { waitFor } from '../../lab/netns.js';
import { TurnClient } from '../../support/turn-client.js';
import { freePort, freePorts, startRelayProcess, type RelayProcess } from './relay-process.js';
import { StreamTurnClient } from './stream-turn-client.js';

const dir = mkdtempSync(join(tmpdir(), 'atn-startup-'));
const running: LabProcess[] = [];

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

async function start(args: string[]): Promise<RelayProcess> {
  const r = await startRelayProcess(args);
  running.push(r.proc);
  return r;
}

/** Runs `anyturn relay <args>` to completion (it must fail fast). */
function runToExit(args: string[]): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [anyturnBin(), 'relay', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

function parseBanner(lines: string[]): { uri: string; username: string; credential: string }[] {
  const out = [];
  for (const line of lines) {
    const m = /^(turns?:\S+)\s+username=(\S+)\s+credential=(\S+)$/.exec(line);
    if (m) out.push({ uri: m[1], username: m[2], credential: m[3] });
  }
  return out;
}

describe('anyturn relay: start-up as `npm start` runs it', () => {
  let relay: RelayProcess;
  let port: number;
  let metricsPort: number;

  beforeAll(async () => {
    [port, metricsPort] = await freePorts(2);
    // What `npm start` runs, on free ports instead of 3478: no --user, no --auth-secret, default listen.
    relay = await start(['--port', String(port), '--metrics', `127.0.0.1:${metricsPort}`, '--min-port', '43000', '--max-port', '43999']);
    await waitFor('the banner', () => parseBanner(relay.proc.lines).length === 2 || undefined, 5000);
  });

  it('logs one "ready" line listing the bound UDP and TCP addresses', () => {
    const listeners = relay.ready.listeners as { protocol: string; address: string; port: number }[];
    expect(listeners).toEqual([
      { protocol: 'udp', role: 'unicast', address: '127.0.0.1', port },
      { protocol: 'tcp', role: 'unicast', address: '127.0.0.1', port },
    ]);
    expect(relay.proc.events.filter((e) => e.msg === 'ready')).toHaveLength(1);
  });

  it('prints turn: URIs with a working test credential (UDP Binding + Allocate, TCP Allocate)', async () => {
    const banner = parseBanner(relay.proc.lines);
    expect(banner.map((b) => b.uri)).toEqual([`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`]);
    const { username, credential } = banner[0];
    expect(username).toMatch(/^test-[0-9a-f]{6}$/);
    expect(credential.length).toBeGreaterThanOrEqual(16);

    const udp = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username, password: credential, rtoMs: 100 });
    try {
      const mapped = await udp.binding();
      expect(mapped).toEqual({ family: 4, address: '127.0.0.1', port: udp.localAddress.port });
      const allocation = await udp.allocate();
      expect(allocation.relayed[0].address).toBe('127.0.0.1');
      expect(allocation.relayed[0].port).toBeGreaterThanOrEqual(43000);
    } finally {
      await udp.close();
    }

    const tcp = await StreamTurnClient.connect({ host: '127.0.0.1', port, username, password: credential });
    try {
      const relayed = await tcp.allocate();
      expect(relayed.port).toBeGreaterThanOrEqual(43000);
    } finally {
      await tcp.close();
    }
  });

  it('refuses a wrong password (401), so the credential is really checked', async () => {
    const { username } = parseBanner(relay.proc.lines)[0];
    const udp = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username, password: 'wrong', rtoMs: 100 });
    try {
      await expect(udp.allocate()).rejects.toMatchObject({ code: 401 });
    } finally {
      await udp.close();
    }
  });

  it('serves /metrics, /healthz and /status', async () => {
    const base = `http://127.0.0.1:${metricsPort}`;
    const health = await fetch(`${base}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^turn_allocations_created_total [1-9]/m);
    expect(metrics).toMatch(/^stun_unauthorized_total [1-9]/m);
    expect(metrics).toContain('turn_stream_connections_accepted_total{protocol="tcp"}');
    expect(metrics).toContain('process_resident_memory_bytes');
    const status = (await (await fetch(`${base}/status`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ pop: 'default', capacity: 10000, draining: false, health: 'ok' });
    expect(status.listeners).toHaveLength(2);
  });

  it('SIGUSR1 drains (/healthz 503), SIGUSR2 ends it', async () => {
    const base = `http://127.0.0.1:${metricsPort}`;
    relay.proc.child.kill('SIGUSR1');
    await waitFor('/healthz 503', async () => ((await fetch(`${base}/healthz`)).status === 503) || undefined, 3000);
    relay.proc.child.kill('SIGUSR2');
    await waitFor('/healthz 200', async () => ((await fetch(`${base}/healthz`)).status === 200) || undefined, 3000);
  });
});

describe('anyturn relay: stopping', () => {
  it('SIGTERM closes connections and exits 0 with a "stopped" line', async () => {
    const port = await freePort();
    const relay = await start(['--port', String(port), '--user', 'u:p', '--min-port', '44000', '--max-port', '44099']);
    const tcp = await StreamTurnClient.connect({ host: '127.0.0.1', port, username: 'u', password: 'p' });
    await tcp.allocate();
    relay.proc.child.kill('SIGTERM');
    expect(await relay.proc.exit(10_000)).toBe(0);
    await tcp.closed;
    expect(relay.proc.events.some((e) => e.msg === 'stopped')).toBe(true);
    // Configured credentials: no test user, no banner.
    expect(parseBanner(relay.proc.lines)).toEqual([]);
    // The port is free again.
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, '127.0.0.1', () => resolve());
    });
    sock.close();
  });
});

describe('anyturn relay: start-up errors', () => {
  it('a bad value in the config file exits 1 naming the key and the reason', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'port: 99999\nrealm: example.org\n');
    const r = await runToExit(['--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ATN_ERR_CONFIG_INVALID');
    expect(r.stderr).toMatch(/port/);
    expect(r.stderr).toMatch(/65535|too big|less than or equal/i);
    expect(r.stdout).not.toContain('"ready"');
  });

  it('an unreadable config file exits 1 with ATN_ERR_CONFIG_FILE', async () => {
    const r = await runToExit(['--config', join(dir, 'nope.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ATN_ERR_CONFIG_FILE');
    expect(r.stderr).toContain('nope.yaml');
  });

  it('an unknown flag and a bad flag value exit 1 naming the flag', async () => {
    const unknown = await runToExit(['--bogus', '1']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('ATN_ERR_CLI_USAGE');
    expect(unknown.stderr).toContain('--bogus');
    const badValue = await runToExit(['--listen', 'not-an-ip']);
    expect(badValue.code).toBe(1);
    expect(badValue.stderr).toContain('listen');
    expect(badValue.stderr).toContain('not an IP address');
  });

  it('a port in use stops start-up with ATN_ERR_LISTEN_BIND naming the address', async () => {
    const port = await freePort();
    const holder = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => holder.bind(port, '127.0.0.1', () => resolve()));
    try {
      const r = await runToExit(['--port', String(port), '--user', 'u:p']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('ATN_ERR_LISTEN_BIND');
      expect(r.stderr).toContain(`127.0.0.1:${port}`);
    } finally {
      holder.close();
    }
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await runToExit(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--auth-secret');
    expect(r.stdout).toContain('--metrics');
  });
});
