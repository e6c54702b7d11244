// Chromium WebRTC driver for test/interop/chromium-webrtc.test.ts (run with `ip netns exec <ns> node <this> <json>`).
//
// Launches headless Chromium (playwright-core, the system /usr/bin/chromium), and for each scenario opens two
// RTCPeerConnections in one page with iceServers = [the TURN URL] and iceTransportPolicy 'relay', exchanges
// offer/answer and candidates in-page, opens a data channel, sends messages and waits for their echoes.
// Prints one JSON line per scenario: {"scenario", "ok", "candidates": {a, b}, "sent", "echoed", "pair", "error"}.
//
// Input JSON: { "scenarios": [{ "name", "url", "username", "credential", "urlB"? }], "messages": N, "timeoutMs": T }
// `urlB` (optional): peer b uses this TURN URL instead of `url` (two relays, e.g. one per PoP across the overlay).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const input = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** Runs in the page: two peers through the TURN server, relay candidates only. */
async function scenarioInPage({ url, urlB, username, credential, messages, timeoutMs }) {
  const config = { iceServers: [{ urls: url, username, credential }], iceTransportPolicy: 'relay' };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(urlB ? { ...config, iceServers: [{ urls: urlB, username, credential }] } : config);
  const candidates = { a: [], b: [] };
  const errors = [];
  a.onicecandidate = (e) => {
    if (e.candidate && e.candidate.candidate) {
      candidates.a.push(e.candidate.candidate);
      b.addIceCandidate(e.candidate).catch((err) => errors.push(`b.addIceCandidate: ${err}`));
    }
  };
  b.onicecandidate = (e) => {
    if (e.candidate && e.candidate.candidate) {
      candidates.b.push(e.candidate.candidate);
      a.addIceCandidate(e.candidate).catch((err) => errors.push(`a.addIceCandidate: ${err}`));
    }
  };
  a.onicecandidateerror = (e) => errors.push(`a icecandidateerror ${e.errorCode} ${e.errorText} ${e.url}`);
  b.onicecandidateerror = (e) => errors.push(`b icecandidateerror ${e.errorCode} ${e.errorText} ${e.url}`);
  b.ondatachannel = (e) => {
    const ch = e.channel;
    ch.onmessage = (m) => ch.send(`echo:${m.data}`);
  };
  const channel = a.createDataChannel('echo', { ordered: true });
  const echoed = [];
  let resolveAll;
  const allEchoed = new Promise((r) => (resolveAll = r));
  channel.onmessage = (m) => {
    echoed.push(m.data);
    if (echoed.length === messages) resolveAll();
  };
  const opened = new Promise((resolve) => (channel.onopen = resolve));
  const deadline = (ms, what) => new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms));

  let error;
  let pair;
  try {
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    await Promise.race([opened, deadline(timeoutMs, 'data channel open')]);
    for (let i = 0; i < messages; i++) channel.send(`m${i}`);
    await Promise.race([allEchoed, deadline(timeoutMs, 'echoes')]);
    const stats = await a.getStats();
    let selected;
    stats.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) selected = stats.get(s.selectedCandidatePairId);
    });
    if (selected) {
      const local = stats.get(selected.localCandidateId);
      const remote = stats.get(selected.remoteCandidateId);
      pair = {
        local: local && { type: local.candidateType, address: local.address, port: local.port, relayProtocol: local.relayProtocol, url: local.url },
        remote: remote && { type: remote.candidateType, address: remote.address, port: remote.port },
        bytesSent: selected.bytesSent,
        bytesReceived: selected.bytesReceived,
      };
    }
  } catch (err) {
    error = String(err);
  }
  a.close();
  b.close();
  return { candidates, sent: messages, echoed, pair, error, errors };
}

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
    const r = await page.evaluate(scenarioInPage, {
      url: s.url,
      urlB: s.urlB,
      username: s.username,
      credential: s.credential,
      messages: input.messages,
      timeoutMs: input.timeoutMs,
    });
    out({ scenario: s.name, ok: r.error === undefined && r.echoed.length === input.messages, ...r });
  }
} catch (err) {
  out({ scenario: 'driver', ok: false, error: String(err && err.stack ? err.stack : err) });
  process.exitCode = 1;
} finally {
  await browser?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
