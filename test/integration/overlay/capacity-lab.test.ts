/**
 * Cross-PoP capacity in the namespace lab: two PoPs (the ISP routes G to PoP 1 statically), a router agent in each
 * PoP (broadcast next hop for UDP to G), redis for the registry, real relays:
 *   pop1-r1  --capacity 2
 *   pop1-r2  --capacity 2 --standby --standby-threshold 0.5 (the hot spare)
 *   pop2-r1  --capacity 50
 * every relay with --pop-distance to the other PoP, and the 300-following client (anycast-client.mjs).
 *
 *  - hot spare: while pop1-r1 is idle, every Allocate through G ends on pop1-r1 (the spare is silent); once
 *    pop1-r1 holds one allocation (load 0.5 = the threshold) the spare joins and, being idle, wins the race;
 *  - overflow: with both PoP 1 relays full, an Allocate through G (still routed to PoP 1) ends on pop2-r1.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigYaml, labDown, labUp, type Lab, type LabPop, type LabRelay } from '../../lab/lab.js';
import { sh, waitFor } from '../../lab/netns.js';
import { startAnyturn, type LabProcess } from '../../lab/proc.js';
import { NsClient, PASSWORD, PORT, REALM, USER } from '../anycast/anycast-lab.js';

const METRICS_PORT = 9100;

let lab: Lab;
let tmp: string;
let client: NsClient;
let holder: NsClient;
const procs: LabProcess[] = [];

function relayArgs(pop: LabPop, r: LabRelay, other: LabPop, extra: string[]): string[] {
  return [
    'relay', '--listen', r.address, '--anycast', lab.anycast, '--port', String(PORT), '--realm', REALM,
    '--user', `${USER}:${PASSWORD}`, '--id', r.id, '--pop', pop.name, '--redis', lab.redis!.url,
    '--metrics', `${r.address}:${METRICS_PORT}`, '--log-level', 'warn', '--pop-distance', `${other.name}=10`,
    '--race-max-delay', '400', ...extra,
  ];
}

async function status(r: LabRelay): Promise<Record<string, unknown>> {
  const reply = await client.fetch(`http://${r.address}:${METRICS_PORT}/status`);
  return JSON.parse(reply.text) as Record<string, unknown>;
}

/** One allocation through G (released at once); the relay it ended on. */
async function allocateThroughG(): Promise<string | undefined> {
  const [r] = await client.allocate(lab.anycast, { count: 1, concurrency: 1, release: true });
  expect(r.ok, r.why).toBe(true);
  return r.relayed?.split(':')[0];
}

describe('cross-PoP capacity: hot spare and overflow to the nearest PoP', () => {
  let p1r1: LabRelay;
  let p1r2: LabRelay;
  let p2r1: LabRelay;

  beforeAll(async () => {
    const prefix = `atcap${randomBytes(3).toString('hex')}-`;
    lab = await labUp({ prefix, pops: 2, relaysPerPop: 2, clients: 2, redis: true, staticAnycast: true });
    tmp = mkdtempSync(join(tmpdir(), prefix));
    const [pop1, pop2] = lab.pops;
    [p1r1, p1r2, p2r1] = [pop1.relays[0], pop1.relays[1], pop2.relays[0]];
    client = await new NsClient(lab.clients[0].ns).ready();
    holder = await new NsClient(lab.clients[1].ns).ready();
    procs.push(startAnyturn(p1r1.ns, p1r1.id, relayArgs(pop1, p1r1, pop2, ['--capacity', '2'])));
    procs.push(startAnyturn(p1r2.ns, p1r2.id, relayArgs(pop1, p1r2, pop2, ['--capacity', '2', '--standby', '--standby-threshold', '0.5'])));
    procs.push(startAnyturn(p2r1.ns, p2r1.id, relayArgs(pop2, p2r1, pop1, ['--capacity', '50'])));
    for (const r of [p1r1, p1r2, p2r1]) {
      await waitFor(`${r.id} answering`, async () => {
        for (const p of procs) if (p.exited) throw new Error(`${p.name} exited: ${p.stderr}`);
        return (await client.binding(r.address)).ok || undefined;
      }, 20_000, 100);
    }
    // G is routed to PoP 1 (static route in the ISP): only PoP 1's router needs the agent.
    const file = join(tmp, 'agent-pop1.yaml');
    writeFileSync(file, agentConfigYaml(lab, pop1, { bgp: false }));
    procs.push(startAnyturn(pop1.ns, 'pop1-agent', ['agent', '--config', file]));
    await waitFor('the PoP 1 agent to broadcast UDP to G', async () => {
      const neigh = await sh('ip', ['-n', pop1.ns, 'neigh', 'show', pop1.broadcastNextHop], { allowFail: true });
      return neigh.stdout.includes('ff:ff:ff:ff:ff:ff') || undefined;
    }, 20_000, 100);
    await waitFor('a Binding through G', async () => ((await client.binding(lab.anycast)).ok ? true : undefined), 20_000, 100);
    // every relay registered (the overflow and the spare read the registry)
    await waitFor('three relays registered', async () => {
      const view = JSON.parse((await client.fetch(`http://${p1r2.address}:${METRICS_PORT}/cluster`)).text) as { relays: unknown[] };
      return view.relays.length === 3 || undefined;
    }, 20_000, 200);
    // the spare re-reads the registry on its own timer: it goes silent once it has seen the other relay idle
    await waitFor('the hot spare silent', async () => ((await status(p1r2)).standby as { silent?: boolean } | undefined)?.silent === true || undefined, 20_000, 100);
  }, 90_000);

  afterAll(async () => {
    await client?.close();
    await holder?.close();
    await Promise.all(procs.map((p) => p.stop()));
    if (lab !== undefined) await labDown(lab.prefix);
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  it('the hot spare stays silent while the other relay is idle, then joins and wins the race', async () => {
    for (let i = 0; i < 3; i++) expect(await allocateThroughG()).toBe(p1r1.address);
    expect(await holder.hold(p1r1.address, 1)).toMatchObject({ ok: 1 });
    await waitFor('the spare to join', async () => ((await status(p1r2)).standby as { silent: boolean }).silent === false || undefined, 10_000, 200);
    expect(await allocateThroughG()).toBe(p1r2.address);
  });

  it('with every PoP 1 relay full, an Allocate through G ends on the nearest other PoP', async () => {
    expect(await holder.hold(p1r1.address, 1)).toMatchObject({ ok: 1 });
    expect(await holder.hold(p1r2.address, 2)).toMatchObject({ ok: 2 });
    await waitFor('both PoP 1 relays full, PoP 2 with room, in pop1-r1\'s registry', async () => {
      const view = JSON.parse((await client.fetch(`http://${p1r1.address}:${METRICS_PORT}/cluster`)).text) as {
        relays: { id: string; pop: string; state: string }[];
      };
      const full = view.relays.filter((r) => r.pop === 'pop1' && r.state === 'full').length;
      return (full === 2 && view.relays.some((r) => r.id === p2r1.id && r.state === 'active')) || undefined;
    }, 10_000, 200);
    expect(await allocateThroughG()).toBe(p2r1.address);
  });
});
