/**
 * Host checks at start-up (relay/startup-checks.ts): a relay-ip that is not this host's and an external-ip PUBLIC
 * that is stop start-up with ATN_ERR_CONFIG_INVALID before anything is bound; a /metrics address others can reach
 * is a loud warning.
 */
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadRelayConfig } from '../../../src/config/schema.js';
import { isAnyturnError } from '../../../src/errors.js';
import { startRelay } from '../../../relay/daemon.js';
import { checkHost, configWarnings, localAddresses } from '../../../relay/startup-checks.js';
import { freePort } from '../../integration/relay/relay-process.js';

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('start-up host checks', () => {
  it('a relay-ip that is not an address of this host stops start-up before anything is bound', async () => {
    const port = await freePort();
    // 192.0.2.0/24 (TEST-NET-1) is on no interface here: binding it fails with EADDRNOTAVAIL.
    const config = loadRelayConfig(['--port', String(port), '--user', 'u:p', '--relay-ip', '127.0.0.1', '--relay-ip', '192.0.2.77']);
    const err = await startRelay(config, { log: pino({ level: 'silent' }) }).then(() => undefined, (e: unknown) => e);
    expect(isAnyturnError(err) && err.code).toBe('ATN_ERR_CONFIG_INVALID');
    expect((err as Error).message).toBe('relay-ip[1]: 192.0.2.77 cannot be bound (EADDRNOTAVAIL): it is not an address of this host');
    expect(await udpFree(port)).toBe(true);
  });

  it('an external-ip PUBLIC that is an address of this host is refused; PUBLIC = PRIVATE is not', async () => {
    const config = loadRelayConfig(['--listen', '127.0.0.1', '--external-ip', '198.51.100.7/127.0.0.1']);
    await expect(checkHost(config, new Set(['127.0.0.1', '198.51.100.7']))).rejects.toThrow(
      'external-ip[0]: PUBLIC 198.51.100.7 is an address of this host: clients would be sent there, but relayed ports are bound on 127.0.0.1',
    );
    await expect(checkHost(config, new Set(['127.0.0.1']))).resolves.toBeUndefined();
    expect(localAddresses().has('127.0.0.1')).toBe(true);
  });

  it('a /metrics address others can reach is a loud warning at start-up (POST /drain is unauthenticated)', async () => {
    expect(configWarnings(loadRelayConfig(['--metrics', '127.0.0.1:9100']))).toEqual([]);
    expect(configWarnings(loadRelayConfig(['--metrics', '[::1]:9100']))).toEqual([]);
    expect(configWarnings(loadRelayConfig(['--metrics', '10.1.2.3:9100']))).toEqual([
      'metrics: POST /drain and /undrain are served without authentication on 10.1.2.3: anyone who reaches port 9100 can take this relay out of service (bind a management address, or firewall the port)',
    ]);
    // The daemon logs it first thing; here start-up then stops at a relay-ip that cannot be bound, so nothing is
    // ever bound on 0.0.0.0.
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
    const config = loadRelayConfig(['--port', String(await freePort()), '--user', 'u:p', '--metrics', '0.0.0.0:9100', '--relay-ip', '192.0.2.77']);
    const err = await startRelay(config, { log: pino({ level: 'info' }, sink) }).then(() => undefined, (e: unknown) => e);
    expect(isAnyturnError(err) && err.code).toBe('ATN_ERR_CONFIG_INVALID');
    const warning = lines.find((l) => l.event === 'config-warning');
    expect(warning).toMatchObject({ level: 40, msg: expect.stringMatching(/^metrics: POST \/drain and \/undrain are served without authentication on every address of this host/) });
  });
});
