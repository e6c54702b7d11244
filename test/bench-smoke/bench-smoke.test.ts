/**
 * Smoke test of the benchmark harness (test/bench): for ~2 s the load generator (its own process, from dist/)
 * drives a real anyturn relay (dist/bin/anyturn.js): an Allocate burst, an Allocate + ChannelBind burst, then
 * ChannelData with echo and without,
 * and the report renders. Proves the harness works end to end; the numbers themselves come from `npm run bench`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeneratorProcess } from '../bench/generator-process.js';
import { parseOptions } from '../bench/options.js';
import { machineInfo, readRssKb } from '../bench/proc.js';
import { renderReport, type ServerRun } from '../bench/report.js';
import { startServer, type RunningServer } from '../bench/servers.js';
import type { StepResult } from '../bench/traffic.js';

const CREDS = { username: 'bench', password: 'bench' };

describe('bench harness smoke', () => {
  let server: RunningServer | undefined;
  let gen: GeneratorProcess | undefined;

  beforeAll(async () => {
    server = await startServer('anyturn', {
      address: '127.0.0.1',
      username: CREDS.username,
      password: CREDS.password,
      realm: 'bench',
      minPort: 30000,
      maxPort: 30999,
    });
    gen = GeneratorProcess.start();
  });

  afterAll(async () => {
    await gen?.stop();
    await server?.stop();
  });

  it('allocates, relays ChannelData both ways and renders the report', async () => {
    const s = server!;
    const g = gen!;
    expect(readRssKb(s.pid)).toBeGreaterThan(0);

    await g.call({ cmd: 'burst.open', server: s.endpoint, creds: CREDS, count: 50, localAddress: '127.0.3.1' });
    const burst = await g.call({ cmd: 'burst.allocate', concurrency: 16 });
    expect(burst.ok).toBe(50);
    expect(burst.perSecond).toBeGreaterThan(0);
    const release = await g.call({ cmd: 'burst.release', concurrency: 16 });
    expect(release.released).toBe(50);

    // The Allocate + ChannelBind burst: every handshake goes on to a ChannelBind that must succeed.
    await g.call({ cmd: 'burst.open', server: s.endpoint, creds: CREDS, count: 20, localAddress: '127.0.3.3' });
    const withChannel = await g.call({ cmd: 'burst.allocate', concurrency: 8, bindTo: { family: 4, address: '127.0.0.1', port: 5004 } });
    expect(withChannel).toMatchObject({ ok: 20, failed: 0 });
    expect((await g.call({ cmd: 'burst.release', concurrency: 8 })).released).toBe(20);

    await g.call({
      cmd: 'rig.create',
      rig: {
        framing: 'channel-data',
        server: s.endpoint,
        creds: CREDS,
        flows: 4,
        readerFlows: 2,
        payloadBytes: 100,
        localAddress: '127.0.3.2',
      },
    });
    const base = { drainMs: 200, serverPid: s.pid };
    const latency: StepResult = await g.call({
      cmd: 'rig.step',
      step: { ...base, ratePps: 1000, durationMs: 1000, echo: true, readersOnly: true },
    });
    const load: StepResult = await g.call({
      cmd: 'rig.step',
      step: { ...base, ratePps: 2000, durationMs: 1000, echo: false, readersOnly: false },
    });
    await g.call({ cmd: 'rig.close' });

    expect(latency.received).toBeGreaterThan(0);
    expect(latency.echoed).toBeGreaterThan(0);
    expect(latency.roundTrip.count).toBe(latency.echoed);
    expect(latency.roundTrip.p99Us).toBeGreaterThanOrEqual(latency.roundTrip.p50Us);
    expect(load.sent).toBeGreaterThan(1000);
    expect(load.received).toBeGreaterThan(0);
    expect(load.received).toBeLessThanOrEqual(load.sent);
    expect(load.forward.count).toBeGreaterThan(0);
    expect(load.serverCpuPct).toBeGreaterThan(0);

    const run: ServerRun = {
      kind: 'anyturn',
      command: s.command,
      framing: 'channel-data',
      latency,
      throughput: {
        maxPps: 2000,
        best: load,
        steps: [{ ...load, outcome: 'pass' }],
        limitedBy: 'budget',
        serverCpuUsPerPacket: 1,
        hostCpuUsPerPacket: 1,
        generatorAloneUsPerPacket: 0.5,
        relayHostCpuUsPerPacket: 0.5,
      },
      allocations: { burst, withChannel: burst, release, rssBeforeKb: 1000, rssAfterKb: 1100, bytesPerAllocation: 2048, serverCpuPct: 10, otherCpuPct: 0, disturbedRetries: 0 },
      notes: [],
    };
    const md = renderReport({
      startedAt: 'now',
      durationS: 2,
      command: 'npm run bench',
      machine: machineInfo('0.0.6'),
      options: parseOptions([], {}),
      runs: [run],
      profiles: [],
      notes: '',
    });
    expect(md).toContain('| metric | anyturn |');
    expect(md).toContain('**Relayed pps at < 0.1 % loss (client → peer)** | 2,000 |');
    expect(md).toContain('**Memory per idle allocation (bytes of server RSS, lower is better)** | 2,048 |');
    expect(md).toContain('`npm run bench`');
  });
});
