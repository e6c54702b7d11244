import dgram from 'node:dgram';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { isAnyturnError } from '../../../src/errors.js';
import { loadRelayConfig } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/log.js';
import { effectiveAllowPeers, startRelay, turnOptionsFrom } from '../../../relay/daemon.js';
import { bannerLines, makeTestUser, turnUri } from '../../../relay/startup-banner.js';
import { freePort } from '../../integration/relay/relay-process.js';

describe('daemon wiring', () => {
  it('maps the relay config onto TurnOptions', () => {
    const c = loadRelayConfig([
      '--listen', '192.0.2.10', '--relay-ip', '192.0.2.11', '--min-port', '50000', '--max-port', '50100', '--realm', 'r.example',
      '--capacity', '77', '--user-quota', '3', '--max-bps', '1000', '--lifetime-max', '300', '--software', 'x', '--deny-peer', '203.0.113.0/24',
    ]);
    expect(turnOptionsFrom(c, [])).toMatchObject({
      realm: 'r.example', software: 'x', relayAddresses: ['192.0.2.11'], minPort: 50000, maxPort: 50100, capacity: 77, userQuota: 3,
      maxBytesPerSecond: 1000, maxLifetimeSeconds: 300, defaultLifetimeSeconds: 300, permissionLifetimeSeconds: 300,
      channelLifetimeSeconds: 600, allowPeers: [], denyPeers: ['203.0.113.0/24'],
    });
  });

  it('allows loopback peers only when every relayed address is loopback and --allow-peer is not given', () => {
    expect(effectiveAllowPeers(loadRelayConfig([]))).toEqual(['127.0.0.0/8', '::1/128']);
    expect(effectiveAllowPeers(loadRelayConfig(['--listen', '192.0.2.1']))).toEqual([]);
    expect(effectiveAllowPeers(loadRelayConfig(['--listen', '127.0.0.1', '--listen', '192.0.2.1']))).toEqual([]);
    expect(effectiveAllowPeers(loadRelayConfig(['--allow-peer', '10.0.0.0/8']))).toEqual(['10.0.0.0/8']);
  });

  it('a listener that cannot bind stops start-up and releases what was bound', async () => {
    const port = await freePort();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()));
    const httpPort = (taken.address() as net.AddressInfo).port;
    try {
      const config = loadRelayConfig(['--port', String(port), '--user', 'u:p', '--metrics', `127.0.0.1:${httpPort}`]);
      const err = await startRelay(config, { log: silentLogger() }).then(() => undefined, (e: unknown) => e);
      expect(isAnyturnError(err) && err.code).toBe('ATN_ERR_LISTEN_BIND');
      expect((err as Error).message).toContain(`HTTP 127.0.0.1:${httpPort}`);
    } finally {
      taken.close();
    }
    // The UDP and TCP listeners that had bound are closed again.
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, '127.0.0.1', () => resolve());
    });
    udp.close();
    const tcp = net.createServer();
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, '127.0.0.1', () => resolve());
    });
    tcp.close();
  });

  it('starts, reports status, and closes (no credentials: a test user)', async () => {
    const port = await freePort();
    const relay = await startRelay(loadRelayConfig(['--port', String(port), '--id', 'relay-7', '--pop', 'ams']), { log: silentLogger() });
    try {
      expect(relay.testUser?.name).toMatch(/^test-[0-9a-f]{6}$/);
      expect(relay.status()).toMatchObject({ id: 'relay-7', pop: 'ams', allocations: 0, capacity: 10000, draining: false });
      expect(relay.listeners.map((l) => `${l.protocol} ${l.address}:${l.port}`)).toEqual([`udp 127.0.0.1:${port}`, `tcp 127.0.0.1:${port}`]);
      relay.setDraining(true);
      expect(relay.status().draining).toBe(true);
    } finally {
      await relay.close();
      await relay.close(); // idempotent
    }
  });
});

describe('startup banner', () => {
  it('formats RFC 7065 URIs per listener, IPv6 in brackets, TLS as turns:', () => {
    expect(turnUri({ protocol: 'udp', role: 'unicast', address: '127.0.0.1', port: 3478 })).toBe('turn:127.0.0.1:3478?transport=udp');
    expect(turnUri({ protocol: 'tcp', role: 'unicast', address: '::1', port: 3478 })).toBe('turn:[::1]:3478?transport=tcp');
    expect(turnUri({ protocol: 'tls', role: 'unicast', address: '192.0.2.1', port: 5349 })).toBe('turns:192.0.2.1:5349?transport=tcp');
  });

  it('lists unicast listeners only, each with the credential', () => {
    const user = makeTestUser();
    const lines = bannerLines(
      [
        { protocol: 'udp', role: 'unicast', address: '127.0.0.1', port: 3478 },
        { protocol: 'udp', role: 'anycast', address: '198.51.100.1', port: 3478 },
      ],
      user,
    );
    expect(lines).toEqual([`turn:127.0.0.1:3478?transport=udp  username=${user.name}  credential=${user.password}`]);
    expect(makeTestUser().password).not.toBe(user.password);
  });
});
