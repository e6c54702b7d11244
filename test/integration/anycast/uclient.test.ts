/**
 * Proof (issue 3): coturn's turnutils_uclient through G, over UDP and TCP. Its probe connection Allocates on G,
 * gets the 300 and takes the ALTERNATE-SERVER; its real connections then allocate on that relay's unicast address
 * and relay client-to-client traffic (-y) there. UDP to G reaches every relay (broadcast next hop, the race); TCP
 * to G reaches one relay (the agent's resilient ECMP group), which redirects at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sh } from '../../lab/netns.js';
import { AnycastLab, PASSWORD, USER } from './anycast-lab.js';

describe('anycast: turnutils_uclient through G', () => {
  let lab: AnycastLab;

  beforeAll(async () => {
    lab = await AnycastLab.start({
      // -y relays between the two clients' relayed addresses, which are on the PoP LAN (RFC 1918)
      relayArgs: ['--race-curve', 'linear', '--race-max-delay', '100', '--allow-peer', '10.9.9.0/24'],
    });
  });

  afterAll(async () => {
    await lab?.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`follows the 300 and relays with zero loss over ${transport.toUpperCase()}`, async () => {
      const before = await lab.answersTotal('300');
      const args = ['-v', '-u', USER, '-w', PASSWORD, '-y', '-n', '10', '-m', '2', '-l', '120'];
      if (transport === 'tcp') args.unshift('-t');
      const r = await sh('turnutils_uclient', [...args, lab.g], { ns: lab.lab.clients[0].ns, allowFail: true, timeoutMs: 50_000 });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.code, out.slice(-2000)).toBe(0);
      // the probe connection went to G and got the redirect ...
      expect(out).toContain(`Connected to: ${lab.g}:3478`);
      expect(out).toContain('error 300');
      // ... the real connections went to one relay's unicast address
      const targets = new Set([...out.matchAll(/Connected to: ([0-9.]+):3478/g)].map((m) => m[1]).filter((a) => a !== lab.g));
      expect(targets.size).toBe(1);
      expect(lab.relays.map((x) => x.relay.address)).toContain([...targets][0]);
      // every message made it (uclient counts 2 x m x n messages each way)
      expect(out).toMatch(/tot_send_msgs=40, tot_recv_msgs=40/);
      expect(out).toMatch(/Total lost packets 0 \(0\.0+%\)/);
      // the relays counted the redirect(s) they sent on G
      const sent = (await lab.answersTotal('300')) - before;
      expect(sent).toBeGreaterThanOrEqual(1);
      if (transport === 'tcp') expect(sent).toBe(1); // one relay got the TCP connection to G
    });
  }
});
