import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { isAnyturnError } from '../../../../src/errors.js';
import { silentLogger } from '../../../../src/log.js';
import { HttpServer, type RelayStatus } from '../../../../relay/http/server.js';

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const STATUS: RelayStatus = {
  id: 'r1',
  pop: 'p1',
  allocations: 3,
  capacity: 100,
  listeners: [{ protocol: 'udp', role: 'unicast', address: '127.0.0.1', port: 3478 }],
  uptimeSeconds: 7,
  draining: false,
};

async function start(drain?: { drain(): void; undrain(): void }): Promise<string> {
  const registry = new Registry();
  new Counter({ name: 'turn_test_total', help: 'a test counter', registers: [registry] }).inc(4);
  server = new HttpServer({ address: '127.0.0.1', port: 0 }, { registry, status: () => STATUS, log: silentLogger(), drain });
  await server.listen();
  return `http://127.0.0.1:${server.localPort}`;
}

describe('HttpServer', () => {
  it('serves Prometheus text on /metrics', async () => {
    const base = await start();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toContain('turn_test_total 4');
  });

  it('/healthz: 503 starting, 200 ok when ready, 503 draining, 503 stopping', async () => {
    const base = await start();
    let res = await fetch(`${base}/healthz`);
    expect([res.status, await res.text()]).toEqual([503, 'starting\n']);
    server!.setReady(true);
    res = await fetch(`${base}/healthz`);
    expect([res.status, await res.text()]).toEqual([200, 'ok\n']);
    server!.setDraining(true);
    res = await fetch(`${base}/healthz`);
    expect([res.status, await res.text()]).toEqual([503, 'draining\n']);
    server!.setDraining(false);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const closing = server!.close();
    expect(server!.health).toBe('stopping');
    await closing;
  });

  it('/status is the relay status as JSON', async () => {
    const base = await start();
    server!.setReady(true);
    const res = await fetch(`${base}/status`);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ ...STATUS, health: 'ok' });
  });

  it('404 for unknown paths, 405 for wrong methods, /drain only when wired', async () => {
    const base = await start();
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const post = await fetch(`${base}/metrics`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET']);
    expect((await fetch(`${base}/drain`, { method: 'POST' })).status).toBe(404);
  });

  it('POST /drain and /undrain call the drain control', async () => {
    const calls: string[] = [];
    const base = await start({ drain: () => calls.push('drain'), undrain: () => calls.push('undrain') });
    expect((await fetch(`${base}/drain`)).status).toBe(405);
    expect((await fetch(`${base}/drain`, { method: 'POST' })).status).toBe(200);
    expect((await fetch(`${base}/undrain`, { method: 'POST' })).status).toBe(200);
    expect(calls).toEqual(['drain', 'undrain']);
  });

  it('a taken port fails with ATN_ERR_LISTEN_BIND naming the address', async () => {
    await start();
    const other = new HttpServer({ address: '127.0.0.1', port: server!.localPort }, { registry: new Registry(), status: () => STATUS, log: silentLogger() });
    const err = await other.listen().then(() => undefined, (e: unknown) => e);
    expect(isAnyturnError(err) && err.code).toBe('ATN_ERR_LISTEN_BIND');
    expect((err as Error).message).toContain(`127.0.0.1:${server!.localPort}`);
  });
});
