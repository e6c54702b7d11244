/**
 * Interop: coturn's turnutils_stunclient sends a STUN Binding over UDP to anyturn (IPv4 and IPv6 listeners) and
 * prints the reflexive (mapped) address it got back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRelayProcess, type RelayProcess } from '../integration/relay/relay-process.js';
import { requireCoturnTools, runProcess, STUNCLIENT } from './coturn-tools.js';

let relay: RelayProcess | undefined;
let port: number;
let metricsPort: number;

beforeAll(async () => {
  requireCoturnTools();
  port = await freePort();
  metricsPort = await freePort();
  relay = await startRelayProcess(
    ['--listen', '127.0.0.1', '--listen', '::1', '--port', String(port), '--user', 'u:p', '--metrics', `127.0.0.1:${metricsPort}`],
    { name: 'anyturn (stunclient interop)' },
  );
});

afterAll(async () => {
  await relay?.stop();
});

/** "0: : IPv4. UDP reflexive addr: 127.0.0.1:40372" -> { family, address, port } */
function reflexive(output: string): { family: string; address: string; port: number } | undefined {
  const m = /(IPv[46])\. UDP reflexive addr: (.+):(\d+)\s*$/m.exec(output);
  return m ? { family: m[1], address: m[2], port: Number(m[3]) } : undefined;
}

async function bindingSuccesses(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  return Number(/^stun_responses_total\{code="success"\} (\d+)/m.exec(text)?.[1] ?? NaN);
}

describe('turnutils_stunclient against anyturn', () => {
  it('gets its IPv4 mapped address over UDP', async () => {
    const before = await bindingSuccesses();
    const r = await runProcess(STUNCLIENT, ['-p', String(port), '127.0.0.1'], 10_000);
    expect(r.code, r.output).toBe(0);
    const mapped = reflexive(r.output);
    expect(mapped).toMatchObject({ family: 'IPv4', address: '127.0.0.1' });
    expect(mapped!.port).toBeGreaterThanOrEqual(1024);
    expect(await bindingSuccesses()).toBeGreaterThan(before);
  });

  it('gets its IPv6 mapped address over UDP', async () => {
    const r = await runProcess(STUNCLIENT, ['-p', String(port), '::1'], 10_000);
    expect(r.code, r.output).toBe(0);
    expect(reflexive(r.output)).toMatchObject({ family: 'IPv6', address: '::1' });
  });

  it('gets nothing from a port where no relay listens (the check can fail)', async () => {
    const closed = await freePort();
    const r = await runProcess(STUNCLIENT, ['-p', String(closed), '127.0.0.1'], 2_000);
    expect(reflexive(r.output)).toBeUndefined();
  });
});
