import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { isAnyturnError } from '../../../../src/errors.js';
import { silentLogger } from '../../../../src/log.js';
import { StreamMetrics } from '../../../../relay/listen/stream-metrics.js';
import { TlsListener } from '../../../../relay/listen/tls.js';
import { RelayMetrics } from '../../../../relay/metrics.js';
import { waitFor } from '../../../lab/netns.js';
import { makeSelfSigned, type SelfSigned } from '../../../integration/relay/self-signed.js';
import { StreamTurnClient } from '../../../integration/relay/stream-turn-client.js';
import { startStreamRelay, USER, type StreamRelay } from './stream-fixture.js';

let cert: SelfSigned;
let relay: StreamRelay | undefined;

beforeAll(() => {
  cert = makeSelfSigned();
});
afterAll(() => cert.remove());
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

function deps() {
  const registry = new Registry();
  return { sink: { handlePacket() {}, connectionClosed() {}, findAllocation: () => undefined }, log: silentLogger(), metrics: new RelayMetrics(registry), streamMetrics: new StreamMetrics(registry) };
}

describe('TlsListener', () => {
  it('serves Binding and an allocation over TLS; the allocation ends with the connection', async () => {
    relay = await startStreamRelay({ certFile: cert.certFile, keyFile: cert.keyFile });
    const c = await StreamTurnClient.connect({ host: '127.0.0.1', port: relay.port, tls: true, username: USER.name, password: USER.password });
    expect((await c.binding()).port).toBe(c.socket.localPort);
    const relayed = await c.allocate();
    expect(relayed.address).toBe('127.0.0.1');
    expect(relay.turn.allocationCount).toBe(1);
    await c.close();
    await waitFor('the allocation to go', () => relay!.turn.allocationCount === 0 || undefined, 3000);
    expect(relay.streamMetrics.closedCount('tls', 'client')).toBe(1);
  });

  it('counts a failed handshake (plain TCP bytes to the TLS port)', async () => {
    relay = await startStreamRelay({ certFile: cert.certFile, keyFile: cert.keyFile });
    const s = net.connect({ host: '127.0.0.1', port: relay.port });
    s.on('error', () => {});
    s.write(Buffer.alloc(64, 0x01));
    await new Promise((resolve) => s.once('close', resolve));
    await waitFor('the failure to be counted', () => relay!.streamMetrics.tlsHandshakeFailures === 1 || undefined, 3000);
    expect(relay.streamMetrics.open('tls')).toBe(0);
  });

  it('names a certificate file that cannot be read (ATN_ERR_CONFIG_FILE)', () => {
    const missing = join(cert.dir, 'missing.pem');
    let err: unknown;
    try {
      new TlsListener({ address: '127.0.0.1', port: 0, role: 'unicast', certFile: missing, keyFile: cert.keyFile }, deps());
    } catch (e) {
      err = e;
    }
    expect(isAnyturnError(err) && err.code).toBe('ATN_ERR_CONFIG_FILE');
    expect((err as Error).message).toContain(missing);
  });

  it('refuses a key that is not PEM (ATN_ERR_CONFIG_INVALID)', () => {
    const bad = join(cert.dir, 'bad-key.pem');
    writeFileSync(bad, 'not a key\n');
    let err: unknown;
    try {
      new TlsListener({ address: '127.0.0.1', port: 0, role: 'unicast', certFile: cert.certFile, keyFile: bad }, deps());
    } catch (e) {
      err = e;
    }
    expect(isAnyturnError(err) && err.code).toBe('ATN_ERR_CONFIG_INVALID');
  });
});
