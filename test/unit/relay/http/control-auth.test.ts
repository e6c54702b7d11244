/**
 * The operator controls (POST /drain, /undrain, /reload) are not open by default: without admin-token they
 * answer only when the HTTP server is bound to a loopback address, with one they need the bearer token.
 * Requests go to 127.0.0.1 only (a server bound to 0.0.0.0 is reached there).
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../../src/log.js';
import { HttpServer, type RelayStatus } from '../../../../relay/http/server.js';

const STATUS: RelayStatus = { id: 'r1', pop: 'p1', allocations: 0, capacity: 1, listeners: [], uptimeSeconds: 0, draining: false };
const TOKEN = 'a-long-enough-admin-token';

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(address: string, adminToken?: string) {
  const calls: string[] = [];
  server = new HttpServer({ address, port: 0 }, {
    registry: new Registry(), status: () => STATUS, log: silentLogger(), adminToken,
    drain: { drain: () => calls.push('drain'), undrain: () => calls.push('undrain') },
    reload: () => {
      calls.push('reload');
      return { reloaded: ['user'] };
    },
  });
  await server.listen();
  return { base: `http://127.0.0.1:${server.localPort}`, calls };
}

const post = (url: string, token?: string) =>
  fetch(url, { method: 'POST', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

describe('operator controls', () => {
  it('without a token: served on a loopback address', async () => {
    const { base, calls } = await start('127.0.0.1');
    expect((await post(`${base}/drain`)).status).toBe(200);
    const reload = await post(`${base}/reload`);
    expect(reload.status).toBe(200);
    expect(await reload.json()).toEqual({ reloaded: ['user'] });
    expect(calls).toEqual(['drain', 'reload']);
  });

  it('without a token: refused (403) on any other address, reads still served', async () => {
    const { base, calls } = await start('0.0.0.0');
    for (const path of ['/drain', '/undrain', '/reload']) {
      const res = await post(`${base}${path}`);
      expect(res.status, path).toBe(403);
      expect(await res.text()).toContain('admin-token');
    }
    expect(calls).toEqual([]);
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });

  it('with a token: 401 without or with a wrong one, 200 with it, on any address', async () => {
    for (const address of ['127.0.0.1', '0.0.0.0']) {
      const { base, calls } = await start(address, TOKEN);
      const missing = await post(`${base}/drain`);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toContain('Bearer');
      expect((await post(`${base}/drain`, `${TOKEN}x`)).status).toBe(401);
      expect((await post(`${base}/reload`, 'short')).status).toBe(401);
      expect(calls).toEqual([]);
      expect((await post(`${base}/drain`, TOKEN)).status).toBe(200);
      expect((await post(`${base}/undrain`, TOKEN)).status).toBe(200);
      expect((await post(`${base}/reload`, TOKEN)).status).toBe(200);
      expect(calls).toEqual(['drain', 'undrain', 'reload']);
      await server!.close();
      server = undefined;
    }
  });

  it('setAdminToken replaces the token (reload)', async () => {
    const { base } = await start('127.0.0.1', TOKEN);
    server!.setAdminToken('another-long-admin-token');
    expect((await post(`${base}/drain`, TOKEN)).status).toBe(401);
    expect((await post(`${base}/drain`, 'another-long-admin-token')).status).toBe(200);
  });

  it('a reload that throws answers 400 with the reason', async () => {
    server = new HttpServer({ address: '127.0.0.1', port: 0 }, {
      registry: new Registry(), status: () => STATUS, log: silentLogger(),
      reload: () => {
        throw new Error('tls-cert: cannot read /nope');
      },
    });
    await server.listen();
    const res = await post(`http://127.0.0.1:${server.localPort}/reload`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('tls-cert: cannot read /nope');
  });
});
