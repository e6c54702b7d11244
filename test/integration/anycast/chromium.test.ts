/**
 * Proof (issue 3): headless Chromium (Debian `chromium`, driven by playwright-core) inside a client namespace,
 * `iceServers: [{ urls: 'turn:G:3478' }]` and `iceTransportPolicy: 'relay'`: libwebrtc follows the 300, gathers
 * relay candidates on relays' unicast addresses, and two peer connections exchange data-channel messages through
 * them. Again with `?transport=tcp`. The page code is shared with the Firefox test (test/lab/webrtc-exchange.ts).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relayOnlyExchange } from '../../lab/webrtc-exchange.js';
import { AnycastLab, PASSWORD, USER, expectRelayedThroughG } from './anycast-lab.js';

const CHROMIUM = '/usr/bin/chromium';

const MESSAGES = 10;

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
      const before = await lab.answersTotal('300');
      const page = await browser.newPage();
      try {
        const url = transport === 'tcp' ? `turn:${lab.g}:3478?transport=tcp` : `turn:${lab.g}:3478`;
        const result = await page.evaluate(relayOnlyExchange, { url, username: USER, credential: PASSWORD, messages: MESSAGES, timeoutMs: 25_000 });
        expectRelayedThroughG(lab, result, transport, MESSAGES);
      } finally {
        await page.close();
      }
      expect((await lab.answersTotal('300')) - before).toBeGreaterThanOrEqual(2); // one 300 per peer at least
    });
  }
});
