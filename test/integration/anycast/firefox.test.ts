/**
 * Proof (issue 10): headless Firefox ESR (Debian `firefox-esr`, no WebDriver) inside a client namespace of the
 * anycast lab, `iceServers: [{ urls: 'turn:G:3478' }]` with TURN REST credentials and `iceTransportPolicy:
 * 'relay'`: nICEr follows the 300, gathers relay candidates on relays' unicast addresses, and two peer
 * connections in one page exchange data-channel messages through them. Again with `?transport=tcp`. The page is
 * served from inside the namespace and posts its result back (test/lab/firefox.ts).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restCredentials } from '../../../src/auth/rest-credentials.js';
import { runPageInFirefox } from '../../lab/firefox.js';
import { relayOnlyExchange, type ExchangeArgs, type ExchangeResult } from '../../lab/webrtc-exchange.js';
import { AnycastLab, expectRelayedThroughG } from './anycast-lab.js';

const SECRET = randomBytes(16).toString('hex');
const MESSAGES = 10;

/** The page: runs the exchange, posts the result (or the error) to the page server. */
function page(args: ExchangeArgs): string {
  return `<!doctype html><meta charset="utf-8"><title>anyturn firefox</title><script>
const relayOnlyExchange = ${relayOnlyExchange.toString()};
const post = (body) => fetch('/result', { method: 'POST', body: JSON.stringify(body) });
relayOnlyExchange(${JSON.stringify(args)}).then(post, (err) => post({ received: [], candidates: [], errors: [], error: String(err) }));
</script>`;
}

describe('anycast: Firefox ESR through G', () => {
  let lab: AnycastLab;

  beforeAll(async () => {
    lab = await AnycastLab.start({
      // the two peers' relayed addresses are on the PoP LAN (RFC 1918)
      relayArgs: ['--race-curve', 'linear', '--race-max-delay', '100', '--allow-peer', '10.9.9.0/24', '--auth-secret', SECRET],
    });
  });

  afterAll(async () => {
    await lab?.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`follows the 300, gathers relay candidates on relays' unicast addresses and exchanges ${MESSAGES} messages (${transport})`, async () => {
      const before = await lab.answersTotal('300');
      const creds = restCredentials(SECRET, { user: 'firefox', ttlSeconds: 600, nowMs: Date.now() });
      const url = transport === 'tcp' ? `turn:${lab.g}:3478?transport=tcp` : `turn:${lab.g}:3478`;
      const html = page({ url, username: creds.username, credential: creds.credential, messages: MESSAGES, timeoutMs: 20_000 });
      const run = await runPageInFirefox(lab.lab.clients[0].ns, html, {
        prefs: { 'media.peerconnection.ice.relay_only': true },
        timeoutMs: 45_000,
      });
      const result = run.result as ExchangeResult;
      expectRelayedThroughG(lab, result, transport, MESSAGES);
      // the relays sent the 300s on G (one per allocation at least: one per peer)
      expect((await lab.answersTotal('300')) - before).toBeGreaterThanOrEqual(2);
    }, 90_000); // the page run is bounded at 45 s, browser start-up included
  }
});
