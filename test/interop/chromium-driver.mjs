// Chromium WebRTC driver for test/interop/chromium-webrtc.test.ts (run with `ip netns exec <ns> node <this> <json>`).
//
// Launches headless Chromium (playwright-core, the system /usr/bin/chromium), and for each scenario runs
// test/lab/webrtc-exchange.ts in one page: two RTCPeerConnections with iceServers = [the TURN URL] and
// iceTransportPolicy 'relay', offer/answer and candidates in-page, messages over a data channel.
// Prints one JSON line per scenario: {"scenario", "ok", "received", "candidates", "local", "remote", "errors", "error"}.
//
// Input JSON: { "scenarios": [{ "name", "url", "urlB"?, "echo"?, "username", "credential" }], "messages": N, "timeoutMs": T }
// (urlB: the second peer's TURN URL when it differs, e.g. a relay at another PoP)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// the in-page code shared with the anycast browser tests, compiled by `pretest`
const root = new URL('../../', import.meta.url);
const { relayOnlyExchange } = await import(new URL('dist/test/lab/webrtc-exchange.js', root).href);

const input = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

const profile = mkdtempSync(join(tmpdir(), 'atnx-chromium-'));
let browser;
try {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      ...(input.chromiumArgs ?? []),
    ],
    env: { ...process.env, HOME: profile },
  });
  const page = await browser.newPage();
  await page.goto('data:text/html,<!doctype html><title>anyturn webrtc</title>');
  for (const s of input.scenarios) {
    const r = await page.evaluate(relayOnlyExchange, {
      url: s.url,
      urlB: s.urlB,
      echo: s.echo,
      username: s.username,
      credential: s.credential,
      messages: input.messages,
      timeoutMs: input.timeoutMs,
    });
    out({ scenario: s.name, ok: r.error === undefined && r.received.length === input.messages, ...r });
  }
} catch (err) {
  out({ scenario: 'driver', ok: false, error: String(err && err.stack ? err.stack : err) });
  process.exitCode = 1;
} finally {
  await browser?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
