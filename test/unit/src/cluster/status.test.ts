import { describe, expect, it } from 'vitest';
import { MemoryClusterStore } from '../../../../src/cluster/memory-store.js';
import { run } from '../../../../bin/commands/status.js';
import { formatAge, formatBandwidth, renderStatus } from '../../../../src/cluster/status-table.js';

function sink() {
  const chunks: string[] = [];
  return { chunks, write: (t: string) => chunks.push(t), text: () => chunks.join('') };
}

async function filledStore(now: number): Promise<MemoryClusterStore> {
  const s = new MemoryClusterStore({ clock: { now: () => now } });
  await s.heartbeat(
    { id: 'a1', pop: 'pop-a', addresses: [{ transport: 'udp', family: 4, address: '10.9.9.11', port: 3478 }, { transport: 'tls', family: 6, address: '2001:db8::11', port: 5349 }], capacity: 1000, allocations: 312, load: 0.31, bandwidthBps: 12_345_678, state: 'active' },
    60_000,
  );
  await s.heartbeat({ id: 'b1', pop: 'pop-b', addresses: [], capacity: 1000, allocations: 5, load: 0.01, bandwidthBps: 999, state: 'draining' }, 60_000);
  await s.publishAnnouncement({ pop: 'pop-a', agent: 'ra', action: 'announce', prepend: 2, reason: 'load 0.9 >= 0.8', prefixes: ['198.18.0.1/32'], load: 0.9 }, 60_000);
  await s.publishAnnouncement({ pop: 'pop-b', agent: 'rb', action: 'withdraw', prepend: 0, reason: 'all draining', prefixes: ['198.18.0.1/32'], load: 0 }, 60_000);
  return s;
}

describe('renderStatus', () => {
  it('prints PoPs with their BGP state and relays with their figures', async () => {
    const now = Date.UTC(2026, 0, 1);
    const s = await filledStore(now);
    const text = renderStatus({ source: 'memory', connection: 'up', now: now + 1500, pops: s.popSummaries(), relays: s.relays() });
    const lines = text.split('\n');
    expect(lines[0]).toBe('cluster store: memory (up)  2026-01-01T00:00:01.500Z');
    expect(lines[2]).toMatch(/^POP\s+BGP\s+RELAYS\s+ACTIVE\s+FULL\s+DRAINING\s+LOAD\s+ALLOCS\s+CAPACITY\s+BANDWIDTH\s+REASON$/);
    expect(lines[3]).toMatch(/^pop-a\s+announce \+2\s+1\s+1\s+0\s+0\s+0\.31\s+312\s+1000\s+12\.3 Mbit\/s\s+load 0\.9 >= 0\.8$/);
    expect(lines[4]).toMatch(/^pop-b\s+withdrawn\s+1\s+0\s+0\s+1\s+0\.00\s+5\s+1000\s+999 bit\/s\s+all draining$/);
    expect(text).toMatch(/a1\s+pop-a\s+active\s+0\.31\s+312\s+1000\s+12\.3 Mbit\/s\s+1\.5s\s+udp 10\.9\.9\.11:3478, tls \[2001:db8::11\]:5349/);
    expect(text).toMatch(/b1\s+pop-b\s+draining/);
  });

  it('prints each relay\'s overlay paths (peer, path, state, RTT, loss, duplicates) when relays have an overlay', async () => {
    const now = Date.UTC(2026, 0, 1);
    const s = await filledStore(now);
    expect(renderStatus({ source: 'memory', connection: 'up', now, pops: [], relays: s.relays() })).not.toContain('OVERLAY');
    await s.heartbeat({
      id: 'c1', pop: 'pop-c', addresses: [], capacity: 10, allocations: 0, load: 0, bandwidthBps: 0, state: 'active',
      overlay: {
        addresses: [{ family: 4, address: '10.77.1.11', port: 4000 }, { family: 4, address: '10.77.2.11', port: 4000 }],
        paths: [
          { peer: 'a1', path: 0, up: true, rttMs: 1.234, loss: 0.0512, duplicates: 7 },
          { peer: 'a1', path: 1, up: false, loss: 0, duplicates: 0 },
        ],
      },
    }, 60_000);
    const text = renderStatus({ source: 'memory', connection: 'up', now, pops: [], relays: s.relays() });
    expect(text).toMatch(/OVERLAY\s+PEER\s+PATH\s+STATE\s+RTT\s+LOSS\s+DUPLICATES/);
    expect(text).toMatch(/c1\s+a1\s+0\s+up\s+1\.23 ms\s+5\.12%\s+7/);
    expect(text).toMatch(/c1\s+a1\s+1\s+DOWN\s+-\s+0\.00%\s+0/);
  });

  it('says so when the store is down or empty', () => {
    const text = renderStatus({ source: 'redis://h:1', connection: 'down', now: 0, pops: [], relays: [] });
    expect(text).toContain('DOWN: last known state');
    expect(text).toContain('(no PoPs)');
    expect(text).toContain('(no relays registered)');
  });

  it('formats bandwidth and ages', () => {
    expect(formatBandwidth(0)).toBe('0 bit/s');
    expect(formatBandwidth(1_500)).toBe('1.5 kbit/s');
    expect(formatBandwidth(2.5e9)).toBe('2.5 Gbit/s');
    expect(formatAge(-5)).toBe('0s');
    expect(formatAge(61_000)).toBe('61s');
    expect(formatAge(600_000)).toBe('10m');
  });
});

describe('anyturn status (run)', () => {
  it('prints the table once', async () => {
    const out = sink();
    const store = await filledStore(Date.now());
    expect(await run([], { stdout: out, stderr: sink(), store })).toBe(0);
    expect(out.text()).toContain('announce +2');
    expect(out.chunks).toHaveLength(1);
  });

  it('--json prints the same view as JSON', async () => {
    const out = sink();
    const store = await filledStore(Date.now());
    await run(['--json'], { stdout: out, stderr: sink(), store });
    const view = JSON.parse(out.text());
    expect(view.pops.map((p: { pop: string }) => p.pop)).toEqual(['pop-a', 'pop-b']);
    expect(view.relays[0]).toMatchObject({ id: 'a1', allocations: 312 });
  });

  it('--watch redraws (clearing the screen) until stopped', async () => {
    const store = await filledStore(Date.now());
    const controller = new AbortController();
    const out = {
      chunks: [] as string[],
      write(t: string) {
        this.chunks.push(t);
        if (this.chunks.length === 3) controller.abort();
      },
    };
    expect(await run(['--watch'], { stdout: out, stderr: sink(), store, signal: controller.signal, intervalMs: 5 })).toBe(0);
    expect(out.chunks).toHaveLength(3);
    for (const c of out.chunks) expect(c.startsWith('\x1b[H\x1b[2J')).toBe(true);
  });

  it('needs --redis without an injected store, and prints help', async () => {
    await expect(run([], { stdout: sink(), stderr: sink() })).rejects.toMatchObject({ code: 'ATN_ERR_CLI_USAGE' });
    await expect(run(['--bogus'], { stdout: sink(), stderr: sink() })).rejects.toMatchObject({ code: 'ATN_ERR_CLI_USAGE' });
    const out = sink();
    expect(await run(['--help'], { stdout: out, stderr: sink() })).toBe(0);
    expect(out.text()).toContain('--redis URL');
  });

  it('fails (exit 1) when the Redis store cannot be reached', async () => {
    const err = sink();
    expect(await run(['--redis', 'redis://127.0.0.1:1'], { stdout: sink(), stderr: err })).toBe(1);
    expect(err.text()).toContain('cannot reach the cluster store');
  });
});
