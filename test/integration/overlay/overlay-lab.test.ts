/**
 * The overlay proof in the namespace lab: `labUp({ pops: 2, overlay: true, redis: true })` (the private network
 * with two paths, test/lab/overlay.ts), one real `anyturn relay --overlay ... --overlay ...` per PoP, the overlay
 * key added with the real `anyturn secret add --overlay`, and two TURN clients (overlay-client.mjs) in client
 * namespaces: client 1 allocates at PoP 1, client 2 at PoP 2, and client 1 sends to client 2's relayed address
 * (relay-only: relayed address to relayed address) as ChannelData.
 *
 * Each overlay path drops 5 % of the UDP datagrams leaving each relay (nftables `numgen random`; this kernel has no
 * sch_netem). Measured:
 *  - without duplication (user `plain`) the end-to-end loss is about 5 %;
 *  - with duplication (user `dup`, `--overlay-duplicate dup`) 10 000 packets arrive with <= 0.5 % loss and no
 *    duplicate delivered; both overlay interfaces carried the copies (interface counters), the public path carried
 *    none (an nftables counter of datagrams from relay 1's public address at relay 2: 0), no id was judged too old;
 *  - a Chromium data channel between two relay-only peers, one allocated at each PoP, crosses the overlay both ways;
 *  - a forged overlay packet (correct format and key, but from an address that is no registered relay, and one with
 *    a wrong key) is never delivered.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labUp, type Lab, type LabPop, type LabRelay } from '../../lab/lab.js';
import { sh, waitFor } from '../../lab/netns.js';
import { impairOverlay, linkPackets, OVERLAY_PORT, publicPacketsFrom } from '../../lab/overlay.js';
import { anyturnBin, nodeIn, repoRoot, startAnyturn, type LabProcess } from '../../lab/proc.js';
import type { ExchangeResult } from '../../lab/webrtc-exchange.js';
import { ScriptClient, type Relayed } from './script-client.js';

const REALM = 'overlay.lab';
const PASSWORD = 'over-the-hills';
const KEY = `lab-overlay-key-${randomBytes(8).toString('hex')}`;
const METRICS_PORT = 9100;
const LOSS_PERCENT = 5;
const N = 10_000;
const RATE = 2_500;

let lab: Lab;
const relays: LabProcess[] = [];
const clients: ScriptClient[] = [];

function relayArgs(pop: LabPop, r: LabRelay): string[] {
  return [
    'relay', '--listen', r.address, '--id', r.id, '--pop', pop.name, '--realm', REALM,
    '--user', `plain:${PASSWORD}`, '--user', `dup:${PASSWORD}`, '--redis', lab.redis!.url,
    '--allow-peer', '10.9.0.0/16', '--metrics', `${r.address}:${METRICS_PORT}`, '--log-level', 'warn',
    ...r.overlay!.flatMap((o) => ['--overlay', `${o.address}:${OVERLAY_PORT}`]), '--overlay-duplicate', 'dup',
  ];
}

async function client(ns: string): Promise<ScriptClient> {
  const c = await new ScriptClient(ns).ready();
  clients.push(c);
  return c;
}

interface OverlayStatus {
  overlay?: { paths: { peer: string; path: number; up: boolean; duplicates: number; loss: number }[] };
}

async function statusOf(via: ScriptClient, r: LabRelay): Promise<OverlayStatus> {
  const reply = await via.call<{ status: number; text: string }>({ cmd: 'fetch', url: `http://${r.address}:${METRICS_PORT}/status` });
  return JSON.parse(reply.text) as OverlayStatus;
}

async function metric(via: ScriptClient, r: LabRelay, name: string): Promise<number> {
  const reply = await via.call<{ text: string }>({ cmd: 'fetch', url: `http://${r.address}:${METRICS_PORT}/metrics` });
  let sum = 0;
  for (const line of reply.text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Waits until `c` has received everything that is still coming (two equal readings 300 ms apart). */
async function settled(c: ScriptClient, tag: number): Promise<{ packets: number; unique: number }> {
  let last = await c.received(tag);
  return waitFor(`tag ${tag} to settle`, async () => {
    await new Promise((r) => setTimeout(r, 300));
    const now = await c.received(tag);
    const done = now.packets === last.packets ? now : undefined;
    last = now;
    return done;
  }, 20_000, 0);
}

describe('overlay lab: two PoPs, two private paths with 5 % loss each', () => {
  let r1: LabRelay;
  let r2: LabRelay;
  let probe: ScriptClient;

  beforeAll(async () => {
    const prefix = `atov${randomBytes(3).toString('hex')}-`;
    lab = await labUp({ prefix, pops: 2, relaysPerPop: 1, clients: 2, redis: true, overlay: true, staticAnycast: false });
    [r1, r2] = [lab.pops[0].relays[0], lab.pops[1].relays[0]];
    const added = await sh(process.execPath, [anyturnBin(), 'secret', 'add', '--overlay', '--redis', lab.redis!.localUrl, KEY]);
    expect(added.stdout).toMatch(/added \(1 secrets\)/);
    for (const pop of lab.pops) relays.push(startAnyturn(pop.relays[0].ns, pop.relays[0].id, relayArgs(pop, pop.relays[0])));
    await impairOverlay(r1.ns, LOSS_PERCENT, r1.dev, r2.address);
    await impairOverlay(r2.ns, LOSS_PERCENT, r2.dev, r1.address);
    probe = await client(lab.clients[0].ns);
    for (const r of [r1, r2]) {
      await waitFor(`${r.id} healthy`, async () => {
        for (const p of relays) if (p.exited) throw new Error(`${p.name} exited: ${p.stderr}`);
        const reply = await probe.call<{ status: number }>({ cmd: 'fetch', url: `http://${r.address}:${METRICS_PORT}/healthz` }).catch(() => undefined);
        return reply?.status === 200 || undefined;
      }, 20_000, 100);
    }
    // Every path up both ways (probes cross the lossy paths too).
    await waitFor('overlay paths up', async () => {
      const [s1, s2] = [await statusOf(probe, r1), await statusOf(probe, r2)];
      const up = (s: OverlayStatus): number => s.overlay?.paths.filter((p) => p.up).length ?? 0;
      return up(s1) === 2 && up(s2) === 2 || undefined;
    }, 20_000, 200);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(relays.map((p) => p.stop()));
    if (lab !== undefined) await labDown(lab.prefix);
  });

  /** A pair of fresh allocations of `user`, client 1 at PoP 1 and client 2 at PoP 2, channels bound both ways. */
  async function pair(user: string): Promise<{ c1: ScriptClient; c2: ScriptClient; relayed1: Relayed; relayed2: Relayed }> {
    const [c1, c2] = [await client(lab.clients[0].ns), await client(lab.clients[1].ns)];
    const relayed1 = await c1.allocate(r1, user, PASSWORD);
    const relayed2 = await c2.allocate(r2, user, PASSWORD);
    expect(relayed1.address).toBe(r1.address);
    expect(relayed2.address).toBe(r2.address);
    await c1.call({ cmd: 'bind', peer: relayed2, channel: 0x4000 });
    await c2.call({ cmd: 'bind', peer: relayed1, channel: 0x4000 });
    return { c1, c2, relayed1, relayed2 };
  }

  it('without duplication the overlay loss shows end to end (about 5 %)', async () => {
    const { c1, c2 } = await pair('plain');
    const sent = await c1.call<{ sent: number }>({ cmd: 'send', channel: 0x4000, tag: 1, count: 4000, rate: RATE, size: 160 });
    expect(sent.sent).toBe(4000);
    const got = await settled(c2, 1);
    const loss = 1 - got.unique / 4000;
    expect(loss).toBeGreaterThan(0.02);
    expect(loss).toBeLessThan(0.09);
    expect(got.packets).toBe(got.unique);
  });

  it('with duplication 10k packets cross the overlay with <= 0.5 % loss, no duplicate delivered, none on the public path', async () => {
    const { c1, c2 } = await pair('dup');
    const before = { ov1: await linkPackets(r1.ns, 'ov1'), ov2: await linkPackets(r1.ns, 'ov2') };
    const droppedBefore = await metric(probe, r2, 'anyturn_overlay_dropped_packets_total');
    const sent = await c1.call<{ sent: number }>({ cmd: 'send', channel: 0x4000, tag: 2, count: N, rate: RATE, size: 160 }, 60_000);
    expect(sent.sent).toBe(N);
    const got = await settled(c2, 2);
    const after = { ov1: await linkPackets(r1.ns, 'ov1'), ov2: await linkPackets(r1.ns, 'ov2') };
    const loss = 1 - got.unique / N;
    console.log(`overlay lab: duplication: ${got.unique}/${N} delivered (loss ${(loss * 100).toFixed(2)} %), `
      + `ov1 tx ${after.ov1.tx - before.ov1.tx}, ov2 tx ${after.ov2.tx - before.ov2.tx}`);
    expect(loss).toBeLessThanOrEqual(0.005);
    expect(got.packets).toBe(got.unique); // duplicates delivered to the client: 0
    // Both paths carried (nearly) every packet: 95 % after the nftables drop, less a margin.
    expect(after.ov1.tx - before.ov1.tx).toBeGreaterThan(0.9 * N);
    expect(after.ov2.tx - before.ov2.tx).toBeGreaterThan(0.9 * N);
    // The public path between the relays carried nothing (ever, in this lab).
    expect(await publicPacketsFrom(r2.ns)).toBe(0);
    // The receiver dropped the later copies; nothing was malformed, forged or too old.
    expect(await metric(probe, r2, 'anyturn_overlay_duplicates_total')).toBeGreaterThan(0.8 * N);
    expect(await metric(probe, r2, 'anyturn_overlay_dropped_packets_total')).toBe(droppedBefore);
    const s2 = await statusOf(probe, r2);
    const fromR1 = s2.overlay!.paths.filter((p) => p.peer === r1.id);
    expect(fromR1).toHaveLength(2);
    for (const p of fromR1) {
      expect(p.loss).toBeGreaterThan(0.02);
      expect(p.loss).toBeLessThan(0.09);
    }
  });

  it('a Chromium data channel between a peer at PoP 1 and a peer at PoP 2 (relay-only) crosses the overlay', async () => {
    const deliveredBefore = [await metric(probe, r1, 'anyturn_overlay_delivered_packets_total'), await metric(probe, r2, 'anyturn_overlay_delivered_packets_total')];
    const driver = join(repoRoot(), 'test', 'interop', 'chromium-driver.mjs');
    const input = {
      scenarios: [{ name: 'overlay', url: `turn:${r1.address}:3478?transport=udp`, urlB: `turn:${r2.address}:3478?transport=udp`, echo: true, username: 'plain', credential: PASSWORD }],
      messages: 50,
      timeoutMs: 20_000,
    };
    const r = await sh(process.execPath, [driver, JSON.stringify(input)], { ns: lab.clients[0].ns, timeoutMs: 90_000, allowFail: true });
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; error?: string; errors?: string[] } & Pick<ExchangeResult, 'local' | 'remote' | 'echoed'>;
    expect(result.ok, `${result.error} ${JSON.stringify(result.errors)} ${r.stderr}`).toBe(true);
    expect(result.local).toMatchObject({ candidateType: 'relay', address: r1.address });
    expect(result.remote).toMatchObject({ candidateType: 'relay', address: r2.address });
    // Both directions went relay to relay over the overlay (50 messages to peer B at relay 2, 50 echoes back to A at
    // relay 1); nothing from relay 1 reached relay 2 the public way.
    expect(result.echoed).toBe(50);
    expect(await metric(probe, r2, 'anyturn_overlay_delivered_packets_total')).toBeGreaterThan(deliveredBefore[1] + 50);
    expect(await metric(probe, r1, 'anyturn_overlay_delivered_packets_total')).toBeGreaterThan(deliveredBefore[0] + 50);
    expect(await publicPacketsFrom(r2.ns)).toBe(0);
  }, 120_000);

  it('never delivers a forged overlay packet (no registered relay, or a wrong key)', async () => {
    const { c2, relayed1, relayed2 } = await pair('plain');
    // Were they delivered, they would reach client 2 as ChannelData on its channel to relayed1 (tag 3).
    // A stranger on path 1 of the private network (an address on the bridge in the overlay namespace).
    await sh('ip', ['-n', lab.overlay!.ns, 'addr', 'add', '10.77.1.250/24', 'dev', 'br1']);
    const before = await metric(probe, r2, 'anyturn_overlay_dropped_packets_total');
    const forge = (key: string): string => `
      const { OverlayKeyring } = await import(${JSON.stringify(new URL('../../../dist/src/overlay/keyring.js', import.meta.url).href)});
      const { dataTemplate, stampHeader } = await import(${JSON.stringify(new URL('../../../dist/src/overlay/wire.js', import.meta.url).href)});
      const dgram = (await import('node:dgram')).default;
      const ring = new OverlayKeyring(); ring.setKeys([${JSON.stringify(key)}]);
      const head = dataTemplate(99, { family: 4, address: ${JSON.stringify(relayed1.address)}, port: ${relayed1.port} },
        { family: 4, address: ${JSON.stringify(relayed2.address)}, port: ${relayed2.port} });
      stampHeader(head, { keyId: ring.signingKeyId, flags: 0, packetId: 1, sendTimestamp: 1, echoReference: 0, echoDelta: 0 });
      const payload = Buffer.alloc(160); payload.writeUInt32BE(3, 0);
      const s = dgram.createSocket('udp4');
      s.bind(0, '10.77.1.250', () => s.send(Buffer.concat([head, payload, ring.sign([head, payload])]), ${OVERLAY_PORT},
        ${JSON.stringify(r2.overlay![0].address)}, () => s.close()));`;
    await nodeIn(lab.overlay!.ns, forge(KEY));
    await nodeIn(lab.overlay!.ns, forge('not-the-cluster-key-0123456789'));
    await waitFor('both forged packets dropped at relay 2', async () =>
      (await metric(probe, r2, 'anyturn_overlay_dropped_packets_total')) - before >= 2 || undefined, 10_000, 100);
    expect((await c2.received(3)).packets).toBe(0);
  });
});
