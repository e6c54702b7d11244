/**
 * Proof (issue 3): headless Chromium (Debian `chromium`, driven by playwright-core) inside a client namespace,
 * `iceServers: [{ urls: 'turn:G:3478' }]` and `iceTransportPolicy: 'relay'`: libwebrtc follows the 300, gathers
 * relay candidates on relays' unicast addresses, and two peer connections exchange data-channel messages through
 * them. Again with `?transport=tcp`.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnycastLab, PASSWORD, USER, metricValue } from './anycast-lab.js';

const CHROMIUM = '/usr/bin/chromium';

interface PageResult {
  received: string[];
  candidates: string[];
}

/** Runs in the page: two relay-only peer connections through `url`, 5 messages over a data channel. */
async function exchange(args: { url: string; username: string; credential: string }): Promise<PageResult> {
  const config: RTCConfiguration = {
    iceServers: [{ urls: args.url, username: args.username, credential: args.credential }],
    iceTransportPolicy: 'relay',
  };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const candidates: string[] = [];
  a.onicecandidate = (e) => {
    if (e.candidate) {
      candidates.push(e.candidate.candidate);
      void b.addIceCandidate(e.candidate);
    }
  };
  b.onicecandidate = (e) => {
    if (e.candidate) {
      candidates.push(e.candidate.candidate);
      void a.addIceCandidate(e.candidate);
    }
  };
  const received: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    b.ondatachannel = (ev) => {
      ev.channel.onmessage = (m) => {
        received.push(String(m.data));
        if (received.length === 5) resolve();
      };
    };
    setTimeout(() => reject(new Error(`no data channel; candidates: ${JSON.stringify(candidates)}`)), 25_000);
  });
  const channel = a.createDataChannel('anycast');
  channel.onopen = () => {
    for (let i = 0; i < 5; i++) channel.send(`hello ${i}`);
  };
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription!);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription!);
  await done;
  a.close();
  b.close();
  return { received, candidates };
}

describe('anycast: Chromium through G', () => {
  let lab: AnycastLab;
  let browser: Browser;
  let tmp: string;

  beforeAll(async () => {
    lab = await AnycastLab.start({
      // the two peers' relayed addresses are on the PoP LAN (RFC 1918)
      relayArgs: ['--race-curve', 'linear', '--race-max-delay', '100', '--allow-peer', '10.9.9.0/24'],
    });
    tmp = mkdtempSync(join(tmpdir(), `${lab.lab.prefix}chromium-`));
    // Chromium runs inside the client namespace: playwright launches this wrapper (ip netns exec execs, so the
    // debugging pipe is Chromium's own)
    const wrapper = join(tmp, 'chromium-in-ns.sh');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${lab.lab.clients[0].ns} ${CHROMIUM} "$@"\n`);
    chmodSync(wrapper, 0o755);
    browser = await chromium.launch({ executablePath: wrapper, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  });

  afterAll(async () => {
    await browser?.close();
    await lab?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`gathers relay candidates on relays' unicast addresses and exchanges messages (${transport})`, async () => {
      const before = await Promise.all([0, 1, 2].map(async (i) => metricValue(await lab.metrics(i), 'anyturn_anycast_answers_total{kind="300"}') ?? 0));
      const page = await browser.newPage();
      try {
        const url = transport === 'tcp' ? `turn:${lab.g}:3478?transport=tcp` : `turn:${lab.g}:3478`;
        const result = await page.evaluate(exchange, { url, username: USER, credential: PASSWORD });
        expect(result.received).toEqual(['hello 0', 'hello 1', 'hello 2', 'hello 3', 'hello 4']);
        const relayCandidates = result.candidates.filter((c) => c.includes(' typ relay '));
        expect(relayCandidates.length).toBeGreaterThanOrEqual(2);
        const unicast = lab.relays.map((r) => r.relay.address);
        for (const c of relayCandidates) {
          const address = c.split(' ')[4];
          expect(unicast).toContain(address);
        }
        // only relay candidates (relay policy), none on G
        expect(result.candidates.every((c) => !c.includes(` ${lab.g} `))).toBe(true);
      } finally {
        await page.close();
      }
      const after = await Promise.all([0, 1, 2].map(async (i) => metricValue(await lab.metrics(i), 'anyturn_anycast_answers_total{kind="300"}') ?? 0));
      expect(after.reduce((n, v, i) => n + v - before[i], 0)).toBeGreaterThanOrEqual(2); // one 300 per peer at least
    });
  }
});
