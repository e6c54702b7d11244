/**
 * Reload without a restart: SIGHUP (and POST /reload) make a running `anyturn relay` read its configuration file
 * again and apply the TLS certificate, static users (coturn-style hashed keys too), REST secrets and admin
 * token, while an allocation made before keeps working (Refresh, relayed data); a bad file is refused and the
 * running configuration stays; a key that needs a restart is reported, not applied.
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { restCredentials } from '../../../src/auth/rest-credentials.js';
import { TurnClient } from '../../support/turn-client.js';
import { freePorts, startRelayProcess, type RelayProcess } from './relay-process.js';
import { makeSelfSigned, type SelfSigned } from './self-signed.js';

const HOST = '127.0.0.1';
let certA: SelfSigned;
let certB: SelfSigned;
let relay: RelayProcess;
let file: string;
let ports: { stun: number; tls: number; http: number; min: number };
let alice: TurnClient;
let peer: dgram.Socket;

function writeConfig(extra: Record<string, unknown>): void {
  writeFileSync(file, toYaml({
    listen: [HOST], port: ports.stun, 'tls-port': ports.tls, metrics: `${HOST}:${ports.http}`,
    'min-port': ports.min, 'max-port': ports.min + 20, realm: 'example.org', 'log-level': 'info',
    'tls-cert': certA.certFile, 'tls-key': certA.keyFile, user: ['alice:alice-pw'], ...extra,
  }));
}

/** SHA-256 fingerprint of the certificate the TLS listener presents now. */
function presented(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: HOST, port: ports.tls, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

async function allocates(username: string, password: string): Promise<boolean> {
  const c = await TurnClient.connect({ server: { address: HOST, port: ports.stun }, username, password, maxTransmissions: 3 });
  try {
    await c.allocate();
    await c.refresh(0);
    return true;
  } catch {
    return false;
  } finally {
    await c.close();
  }
}

async function reloaded(): Promise<Record<string, unknown>> {
  const before = relay.proc.events.filter((e) => e.event === 'reloaded').length;
  relay.proc.child.kill('SIGHUP');
  return relay.proc.waitForEvent('reload applied', (e) => e.event === 'reloaded' && relay.proc.events.filter((x) => x.event === 'reloaded').indexOf(e) >= before);
}

beforeAll(async () => {
  certA = makeSelfSigned();
  certB = makeSelfSigned();
  file = join(certA.dir, 'relay.yaml');
  const [stun, tlsPort, http, min] = await freePorts(4);
  ports = { stun, tls: tlsPort, http, min };
  writeConfig({});
  relay = await startRelayProcess(['--config', file]);
  peer = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => peer.bind(0, HOST, resolve));
  alice = await TurnClient.connect({ server: { address: HOST, port: ports.stun }, username: 'alice', password: 'alice-pw' });
  await alice.allocate();
  await alice.createPermission({ address: HOST, port: peer.address().port, family: 4 });
});

afterAll(async () => {
  await alice?.close();
  peer?.close();
  await relay?.stop();
  certA?.remove();
  certB?.remove();
});

describe('reload', () => {
  it('SIGHUP applies a new TLS certificate, users (hashed key) and REST secrets; the live allocation carries on', async () => {
    const fpA = await presented();
    expect(await allocates('bob', 'bob-pw')).toBe(false);

    const bobKey = createHash('md5').update('bob:example.org:bob-pw').digest('hex');
    writeConfig({ 'tls-cert': certB.certFile, 'tls-key': certB.keyFile, user: ['alice:alice-pw', `bob:0x${bobKey}`], 'auth-secret': ['rest-secret'] });
    const event = await reloaded();
    expect(event).toMatchObject({ reloaded: expect.arrayContaining(['tls-cert', 'user', 'auth-secret']), restartNeeded: [], users: 2, authSecrets: 1 });

    const fpB = await presented();
    expect(fpB).not.toBe(fpA);
    expect(await allocates('bob', 'bob-pw')).toBe(true);
    const rest = restCredentials('rest-secret', { user: 'carol', ttlSeconds: 600, nowMs: Date.now() });
    expect(await allocates(rest.username, rest.credential)).toBe(true);

    // The allocation made before the reload: still refreshed, still relaying to its peer.
    expect(await alice.refresh(600)).toBe(600);
    const got = new Promise<Buffer>((resolve) => peer.once('message', (m) => resolve(m)));
    alice.sendIndication({ address: HOST, port: peer.address().port, family: 4 } as never, Buffer.from('after reload'));
    expect((await got).toString()).toBe('after reload');
  });

  it('POST /reload refuses a bad file and keeps the running configuration; restart-only keys are reported', async () => {
    const fp = await presented();
    writeConfig({ 'tls-cert': join(certB.dir, 'missing.pem'), 'tls-key': certB.keyFile, user: ['alice:alice-pw'] });
    const bad = await fetch(`http://${HOST}:${ports.http}/reload`, { method: 'POST' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('ATN_ERR_CONFIG_FILE: tls-cert');
    expect(await presented()).toBe(fp);
    expect(await allocates('bob', 'bob-pw')).toBe(true); // users were not touched either

    writeConfig({ 'tls-cert': certB.certFile, 'tls-key': certB.keyFile, user: ['alice:alice-pw'], capacity: 7 });
    const ok = await fetch(`http://${HOST}:${ports.http}/reload`, { method: 'POST' });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ restartNeeded: ['capacity'], users: 1 });
    expect(await allocates('bob', 'bob-pw')).toBe(false);
    const status = (await (await fetch(`http://${HOST}:${ports.http}/status`)).json()) as { capacity: number; allocations: number };
    expect(status.capacity).toBe(10000);
    expect(status.allocations).toBe(1);
  });
});
