/**
 * Interop with a real browser: headless Chromium (Debian `chromium`, driven by playwright-core) opens two
 * RTCPeerConnections with iceTransportPolicy 'relay' through anyturn and sends data-channel messages, over
 * TURN/UDP, TURN/TCP (?transport=tcp) and TURN/TLS (turns:, self-signed certificate).
 *
 * Chromium refuses TURN servers on loopback, so the test builds two network namespaces joined by a veth pair:
 *   atnx-relay (10.201.0.1/24, the relay)  <->  atnx-web (10.201.0.2/24, Chromium + test/interop/chromium-driver.mjs)
 * Everything it creates is removed in afterAll (namespaces, and with them the processes inside).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAddress, addNamespace, addVeth, deleteNamespace, randomPrefix, sh, waitFor } from '../lab/netns.js';
import { repoRoot } from '../lab/proc.js';
import { makeSelfSigned, type SelfSigned } from '../integration/relay/self-signed.js';
import { startRelayProcess, type RelayProcess } from '../integration/relay/relay-process.js';
import type { ExchangeResult } from '../lab/webrtc-exchange.js';

const RELAY_NS = `${randomPrefix('atnx')}relay`;
const WEB_NS = `${randomPrefix('atnx')}web`;
const RELAY_IP = '10.201.0.1';
const WEB_IP = '10.201.0.2';
const USER = 'webrtc';
const PASSWORD = 'webrtc-pass';
const MESSAGES = 10;

interface ScenarioResult extends ExchangeResult {
  scenario: string;
  ok: boolean;
}

let relay: RelayProcess | undefined;
let cert: SelfSigned | undefined;
const results = new Map<string, ScenarioResult>();
let driverOutput = '';

async function cleanup(): Promise<void> {
  await deleteNamespace(WEB_NS);
  await deleteNamespace(RELAY_NS);
}

beforeAll(async () => {
  await addNamespace(RELAY_NS);
  await addNamespace(WEB_NS);
  await addVeth({ ns: RELAY_NS, name: 'atnx-r' }, { ns: WEB_NS, name: 'atnx-w' });
  await addAddress(RELAY_NS, 'atnx-r', `${RELAY_IP}/24`);
  await addAddress(WEB_NS, 'atnx-w', `${WEB_IP}/24`);

  cert = makeSelfSigned(RELAY_IP);
  // Inside its own namespace the relay can use the standard ports.
  relay = await startRelayProcess(
    [
      '--listen', RELAY_IP,
      '--user', `${USER}:${PASSWORD}`,
      '--realm', 'webrtc.test',
      '--allow-peer', '10.201.0.0/24',
      '--tls-cert', cert.certFile, '--tls-key', cert.keyFile,
      '--metrics', `${RELAY_IP}:9641`,
    ],
    { ns: RELAY_NS, name: 'anyturn (chromium interop)' },
  );

  const input = {
    scenarios: [
      { name: 'udp', url: `turn:${RELAY_IP}:3478`, username: USER, credential: PASSWORD },
      { name: 'tcp', url: `turn:${RELAY_IP}:3478?transport=tcp`, username: USER, credential: PASSWORD },
      { name: 'tls', url: `turns:${RELAY_IP}:5349?transport=tcp`, username: USER, credential: PASSWORD },
    ],
    messages: MESSAGES,
    timeoutMs: 15_000,
    // The relay's certificate is self-signed (TLS scenario only; no effect on UDP/TCP).
    chromiumArgs: ['--ignore-certificate-errors'],
  };
  const driver = join(repoRoot(), 'test', 'interop', 'chromium-driver.mjs');
  const r = await sh(process.execPath, [driver, JSON.stringify(input)], { ns: WEB_NS, timeoutMs: 90_000, allowFail: true });
  driverOutput = `exit ${r.code}\n${r.stdout}\n${r.stderr}`;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const parsed = JSON.parse(line) as ScenarioResult;
    results.set(parsed.scenario, parsed);
  }
}, 150_000);

afterAll(async () => {
  await relay?.stop();
  await cleanup();
  cert?.remove();
});

describe('headless Chromium through anyturn (relay-only ICE, data channel)', () => {
  for (const [name, protocol] of [['udp', 'udp'], ['tcp', 'tcp'], ['tls', 'tls']] as const) {
    it(`${name}: relay candidates on ${RELAY_IP}, ${MESSAGES} messages delivered`, () => {
      const r = results.get(name);
      expect(r, driverOutput).toBeDefined();
      const why = JSON.stringify(r);
      expect(r!.error, why).toBeUndefined();
      expect(r!.candidates.length, why).toBeGreaterThanOrEqual(2); // one per peer at least
      for (const c of r!.candidates) {
        expect(c).toContain(' typ relay ');
        expect(c.split(' ')[4]).toBe(RELAY_IP);
      }
      expect(r!.received).toEqual(Array.from({ length: MESSAGES }, (_, i) => `hello ${i}`));
      expect(r!.local, why).toMatchObject({ candidateType: 'relay', address: RELAY_IP, relayProtocol: protocol });
      expect(r!.remote, why).toMatchObject({ candidateType: 'relay', address: RELAY_IP });
      expect(r!.ok).toBe(true);
    });
  }

  it('the relay saw the allocations (and no malformed input)', async () => {
    const script = `fetch('http://${RELAY_IP}:9641/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    const { stdout: text } = await sh(process.execPath, ['-e', script], { ns: RELAY_NS });
    const created = Number(/^turn_allocations_created_total (\d+)/m.exec(text)?.[1] ?? NaN);
    expect(created).toBeGreaterThanOrEqual(6);
    expect(text).toMatch(/^turn_stream_connections_accepted_total\{protocol="tls"\} [1-9]/m);
    expect(text).toMatch(/^turn_packets_dropped_total\{reason="malformed"\} 0$/m);
  });

  it('the UDP data channel was carried by the eBPF kernel fast path (offload auto, as root)', async () => {
    const script = `fetch('http://${RELAY_IP}:9641/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    const carried = (text: string, direction: string): number =>
      Number(new RegExp(`^turn_offload_packets_total\\{direction="${direction}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    // The kernel's per-flow counters are credited to the metrics every second.
    const text = await waitFor('the kernel counters to be credited', async () => {
      const { stdout } = await sh(process.execPath, ['-e', script], { ns: RELAY_NS });
      return carried(stdout, 'client-to-peer') >= MESSAGES && carried(stdout, 'peer-to-client') >= MESSAGES ? stdout : undefined;
    }, 5000, 200);
    expect(text).toMatch(/^turn_offload_enabled 1$/m);
  });
});
