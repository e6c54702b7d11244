/**
 * The mapping does what docs/architecture.md ("The path of one client") promises, end to end through the lab: a UDP
 * datagram from a client to G:3478 reaches every relay of the PoP (broadcast next hop),
 * a TCP connection to G:3478 reaches exactly one relay (resilient ECMP group, L4 hash).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigYaml, labDown, labUp, type Lab } from '../../lab/lab.js';
import { randomPrefix, waitFor } from '../../lab/netns.js';
import { nodeIn, startAnyturn, startStunResponder, type LabProcess } from '../../lab/proc.js';

const PREFIX = randomPrefix('atnl-dl');
let lab: Lab;
let dir: string;
const relays: LabProcess[] = [];

beforeAll(async () => {
  lab = await labUp({ prefix: PREFIX });
  const pop = lab.pops[0];
  for (const r of pop.relays) {
    relays.push(await startStunResponder(r.ns, r.id, {
      udp: [`${r.address}:3478`, `${lab.anycast}:3478`, `[${lab.anycast6}]:3478`],
      tcp: [`${lab.anycast}:3478`, `[${lab.anycast6}]:3478`],
    }));
  }
  dir = mkdtempSync(join(tmpdir(), 'atnl-delivery-'));
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, agentConfigYaml(lab, pop, { ipv6: true }));
  const agent = startAnyturn(pop.ns, 'agent --once', ['agent', '--config', config, '--once', '--log-level', 'warn']);
  expect(await agent.exit()).toBe(0);
  expect(agent.events.at(-1)).toMatchObject({ summary: 'once', failed: 0, healthy: pop.relays.map((r) => r.id) });
});

afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop('SIGKILL')));
  if (lab) await labDown(PREFIX);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each([
  { family: 'IPv4', g: () => lab.anycast, udp: 'udp4', client: /^10\.0\.1\.2:\d+$/ },
  { family: 'IPv6', g: () => lab.anycast6, udp: 'udp6', client: /^fd00:0:1::2:\d+$/ },
])('PoP LAN delivery through the agent\'s mapping ($family)', ({ g, udp, client }) => {
  const G = () => JSON.stringify(g());
  /** How the responder names the socket it got the datagram on (`address:port`, no brackets). */
  const local = () => `${g()}:3478`;

  it('delivers one UDP datagram to G:3478 to all three relays, on G', async () => {
    const payload = `bcast-${randomBytes(6).toString('hex')}`;
    await nodeIn(lab.clients[0].ns, `
      import { createSocket } from 'node:dgram';
      const s = createSocket('${udp}');
      s.send(Buffer.from(${JSON.stringify(payload)}), 3478, ${G()}, (err) => { s.close(); if (err) throw err; });
    `);
    const got = await Promise.all(relays.map((r) => r.waitForEvent(`datagram ${payload}`, (e) => e.event === 'udp' && e.text === payload, 5_000)));
    for (const e of got) expect(e).toMatchObject({ local: local(), from: expect.stringMatching(client) });
    // Exactly once each: one frame, flooded once by the bridge.
    for (const r of relays) expect(r.events.filter((e) => e.text === payload)).toHaveLength(1);
  });

  it('answers a STUN Binding to G from every relay, each reply from G:3478', async () => {
    const out = await nodeIn(lab.clients[1].ns, `
      import { createSocket } from 'node:dgram';
      import { randomBytes } from 'node:crypto';
      const req = Buffer.alloc(20); req.writeUInt16BE(1, 0); req.writeUInt32BE(0x2112a442, 4); randomBytes(12).copy(req, 8);
      const s = createSocket('${udp}'); const from = [];
      const deadline = setTimeout(() => { console.log(JSON.stringify(from)); process.exit(0); }, 5000);
      s.on('message', (m, r) => {
        if (m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(req.subarray(8, 20))) from.push(r.address + ':' + r.port);
        if (from.length === 3) { clearTimeout(deadline); console.log(JSON.stringify(from)); process.exit(0); }
      });
      s.send(req, 3478, ${G()});
    `);
    expect(JSON.parse(out)).toEqual([local(), local(), local()]);
  });

  it('takes each TCP connection to G:3478 to exactly one relay, spread by the L4 hash', async () => {
    const before = relays.map((r) => r.events.filter((e) => e.event === 'tcp').length);
    const out = await nodeIn(lab.clients[0].ns, `
      import { connect } from 'node:net';
      const one = () => new Promise((resolve, reject) => {
        const c = connect(3478, ${G()}); let data = '';
        c.on('data', (d) => { data += d; }); c.on('end', () => resolve(data.trim())); c.on('error', reject);
      });
      const names = [];
      for (let i = 0; i < 24; i++) names.push(await one());
      console.log(JSON.stringify(names));
    `);
    const names = JSON.parse(out) as string[];
    expect(names).toHaveLength(24);
    const ids = lab.pops[0].relays.map((r) => r.id);
    for (const n of names) expect(ids).toContain(n);
    expect(new Set(names).size).toBeGreaterThan(1);
    // Each relay saw exactly the connections it answered: nothing duplicated by broadcast.
    await waitFor('tcp reports', () => {
      const counts = relays.map((r, i) => r.events.filter((e) => e.event === 'tcp').length - before[i]);
      return counts.reduce((a, b) => a + b, 0) === 24 ? counts : undefined;
    }, 5_000);
    const counts = relays.map((r, i) => r.events.filter((e) => e.event === 'tcp').length - before[i]);
    expect(counts).toEqual(ids.map((id) => names.filter((n) => n === id).length));
  });
});
