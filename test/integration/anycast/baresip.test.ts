/**
 * Proof (issue 10): baresip (Debian `baresip`, SIP on libre) calls another baresip directly
 * (`sip:bob@<c2>`), both in client namespaces of the anycast lab, each with `medianat=turn` and
 * `stunserver=turn:G:3478` (UDP) and TURN REST credentials. libre's TURN client follows the 300 (its allocations
 * can only be made on a relay's unicast address: G never allocates, it answers an Allocate with 401 or 300), the
 * call is established with Opus (sine source, sink player: test/lab/baresip.ts), and RTP flows both ways through
 * the two relayed addresses, as the relays' peer counters and baresip's own RTP statistics show.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restCredentials } from '../../../src/auth/rest-credentials.js';
import { Baresip } from '../../lab/baresip.js';
import { waitFor } from '../../lab/netns.js';
import { AnycastLab, PORT } from './anycast-lab.js';

const SECRET = randomBytes(16).toString('hex');
/** RTP packets (20 ms Opus frames: 50/s each way) the relays must have carried before hanging up (~1.5 s). */
const RTP_PACKETS = 150;
/** What each end must have sent and received by then: well under half, so a late start on one side still passes. */
const RTP_PACKETS_EACH = 25;

describe('anycast: baresip calls baresip with TURN through G', () => {
  let lab: AnycastLab;
  const phones: Baresip[] = [];

  beforeAll(async () => {
    lab = await AnycastLab.start({
      // the two relayed addresses are on the PoP LAN (RFC 1918)
      relayArgs: ['--race-curve', 'linear', '--race-max-delay', '100', '--allow-peer', '10.9.9.0/24', '--auth-secret', SECRET],
    });
  });

  afterAll(async () => {
    await Promise.allSettled(phones.map((p) => p.stop()));
    await lab?.stop();
  });

  function account(user: string, address: string): string {
    const creds = restCredentials(SECRET, { user, ttlSeconds: 600, nowMs: Date.now() });
    return [
      `<sip:${user}@${address}>`,
      'regint=0',
      'answermode=auto',
      'medianat=turn',
      `stunserver=turn:${lab.g}:${PORT}`,
      `stunuser=${creds.username}`,
      `stunpass=${creds.credential}`,
      'audio_codecs=opus/48000/2',
    ].join(';');
  }

  it('establishes the call, allocates on relays after the 300 on G, and carries RTP both ways', async () => {
    const [c1, c2] = lab.lab.clients;
    const unicast = lab.relays.map((r) => r.relay.address);
    const before = {
      redirects: await lab.answersTotal('300'),
      allocations: await lab.metricTotal('turn_allocations_created_total'),
      peerSent: await lab.metricTotal('turn_traffic_peer_sent_packets_total'),
    };

    const bob = await Baresip.start({ ns: c2.ns, name: 'bob', address: c2.address, account: account('bob', c2.address) });
    phones.push(bob);
    const alice = await Baresip.start({ ns: c1.ns, name: 'alice', address: c1.address, account: account('alice', c1.address) });
    phones.push(alice);
    alice.command(`/dial sip:bob@${c2.address}`);

    // both ends: medianat turn gathered (an allocation), call established, RTP arriving from the other's relayed
    // address, which is on a relay's unicast address
    for (const [phone, peer] of [[alice, 'bob'], [bob, 'alice']] as const) {
      await phone.waitForLine('TURN media NAT established', /media-nat 'turn' established/, 20_000);
      await phone.waitForLine('call established', new RegExp(`Call established: sip:${peer}@`), 20_000);
      const from = await phone.waitForLine('incoming RTP', /incoming rtp for 'audio' established, receiving from ([0-9.]+):(\d+)/, 20_000);
      expect(unicast, phone.output.slice(-3000)).toContain(from[1]);
    }

    // the relays carried RTP between the relayed addresses (wait for it, bounded)
    const carried = await waitFor('RTP through the relays', async () => {
      const n = (await lab.metricTotal('turn_traffic_peer_sent_packets_total')) - before.peerSent;
      return n >= RTP_PACKETS ? n : undefined;
    }, 20_000, 200);
    expect(carried).toBeGreaterThanOrEqual(RTP_PACKETS);

    // hang up: each baresip prints its RTP statistics for the call
    const mark = { alice: alice.lineCount, bob: bob.lineCount };
    alice.command('/hangup');
    for (const [phone, from] of [[alice, mark.alice], [bob, mark.bob]] as const) {
      await phone.waitForLine('call terminated', /Call with sip:\S+ terminated/, 15_000, from);
      const packets = await phone.waitForLine('RTP statistics', /^packets:\s+(\d+)\s+(\d+)/, 15_000, from);
      const errors = await phone.waitForLine('RTP errors', /^errors:\s+(\d+)\s+(\d+)/, 15_000, from);
      const why = phone.output.slice(-3000);
      expect(Number(packets[1]), why).toBeGreaterThanOrEqual(RTP_PACKETS_EACH); // sent
      expect(Number(packets[2]), why).toBeGreaterThanOrEqual(RTP_PACKETS_EACH); // received
      expect([Number(errors[1]), Number(errors[2])], why).toEqual([0, 0]);
    }

    // the allocations were made through G: a 300 per allocation at least, and the allocations on relays
    expect((await lab.answersTotal('300')) - before.redirects).toBeGreaterThanOrEqual(2);
    expect((await lab.metricTotal('turn_allocations_created_total')) - before.allocations).toBeGreaterThanOrEqual(2);
  }, 120_000); // every wait inside is bounded (20 s / 15 s); a normal run takes 2-4 s
});
