/**
 * Per-tenant egress in the namespace lab (US 9,124,652): the PoP router has two uplinks to the ISP (`up0`, `up1`),
 * the relay two relay addresses (10.9.9.11 and 10.9.9.21, `--uplink uplink1=10.9.9.21`), the cluster-wide egress
 * table in the store (`anyturn secret add --egress premium=uplink1`) pins tenant `premium` to 10.9.9.21, the relay's
 * own `--egress *=10.9.9.11` everyone else, and the real router agent installs the source-based policy routing
 * (10.9.9.21 → up1, 10.9.9.11 → up0). A client of each tenant sends 1000 datagrams to a peer behind the ISP;
 * the PoP router's interface counters show which uplink carried them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigYaml, labDown, labUp, type Lab, type LabPop, type LabRelay } from '../../lab/lab.js';
import { sh, waitFor } from '../../lab/netns.js';
import { linkPackets } from '../../lab/overlay.js';
import { anyturnBin, startAnyturn, type LabProcess } from '../../lab/proc.js';
import { NsClient } from '../anycast/anycast-lab.js';
import { ScriptClient } from './script-client.js';

const PASSWORD = 'egress-pass';
const PREMIUM_IP = '10.9.9.21';
const N = 1000;

let lab: Lab;
let tmp: string;
const procs: LabProcess[] = [];
const clients: ScriptClient[] = [];
let probe: NsClient;

describe('per-tenant egress: premium leaves by uplink 1, everyone else by uplink 0', () => {
  let pop: LabPop;
  let relay: LabRelay;

  beforeAll(async () => {
    const prefix = `ategr${randomBytes(3).toString('hex')}-`;
    lab = await labUp({ prefix, pops: 1, relaysPerPop: 1, clients: 2, secondUplink: true, redis: true });
    const added = await sh(process.execPath, [anyturnBin(), 'secret', 'add', '--egress', '--redis', lab.redis!.localUrl, 'premium=uplink1']);
    expect(added.stdout).toMatch(/added/);
    tmp = mkdtempSync(join(tmpdir(), prefix));
    pop = lab.pops[0];
    relay = pop.relays[0];
    await sh('ip', ['-n', relay.ns, 'addr', 'add', `${PREMIUM_IP}/24`, 'dev', relay.dev]);
    procs.push(startAnyturn(relay.ns, relay.id, [
      'relay', '--listen', relay.address, '--relay-ip', relay.address, '--relay-ip', PREMIUM_IP, '--id', relay.id, '--pop', pop.name,
      '--user', `premium:${PASSWORD}`, '--user', `basic:${PASSWORD}`, '--allow-peer', '10.0.0.0/16', '--log-level', 'warn',
      '--redis', lab.redis!.url, '--uplink', `uplink1=${PREMIUM_IP}`, '--egress', `*=${relay.address}`,
    ]));
    const file = join(tmp, 'agent.yaml');
    writeFileSync(file, agentConfigYaml(lab, pop, {
      redis: false,
      extra: {
        egress: [
          { source: PREMIUM_IP, via: pop.uplink2!.peerAddress, dev: pop.uplink2!.dev, table: 201 },
          { source: relay.address, via: pop.peerAddress, dev: pop.uplinkDev, table: 202 },
        ],
      },
    }));
    procs.push(startAnyturn(pop.ns, 'pop1-agent', ['agent', '--config', file]));
    await waitFor('the agent\'s egress rules', async () => {
      for (const p of procs) if (p.exited) throw new Error(`${p.name} exited: ${p.stderr}`);
      const { stdout } = await sh('ip', ['-n', pop.ns, 'rule', 'show']);
      return (stdout.includes(`from ${PREMIUM_IP} lookup 201`) && stdout.includes(`from ${relay.address} lookup 202`)) || undefined;
    }, 20_000, 100);
    probe = await new NsClient(lab.clients[0].ns).ready();
    await waitFor('the relay answering', async () => ((await probe.binding(relay.address)).ok ? true : undefined), 20_000, 100);
  }, 90_000);

  afterAll(async () => {
    await probe?.close();
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(procs.map((p) => p.stop()));
    if (lab !== undefined) await labDown(lab.prefix);
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  /** Allocates as `user`, sends N datagrams to a peer behind the ISP; returns the relayed IP and each uplink's tx delta. */
  async function run(user: string): Promise<{ relayed: string; up0: number; up1: number }> {
    const c = await new ScriptClient(lab.clients[0].ns).ready();
    clients.push(c);
    const relayed = await c.allocate(relay, user, PASSWORD);
    await c.call({ cmd: 'bind', peer: { address: lab.clients[1].address, port: 9 }, channel: 0x4000 });
    const before = { up0: await linkPackets(pop.ns, pop.uplinkDev), up1: await linkPackets(pop.ns, pop.uplink2!.dev) };
    await c.call({ cmd: 'send', channel: 0x4000, tag: 1, count: N, rate: 2000, size: 100 });
    const peerSent = async (): Promise<number> => (await linkPackets(pop.ns, relayed.address === PREMIUM_IP ? pop.uplink2!.dev : pop.uplinkDev)).tx;
    const start = relayed.address === PREMIUM_IP ? before.up1.tx : before.up0.tx;
    await waitFor(`${N} datagrams out of the PoP`, async () => ((await peerSent()) - start >= N ? true : undefined), 10_000, 50);
    const after = { up0: await linkPackets(pop.ns, pop.uplinkDev), up1: await linkPackets(pop.ns, pop.uplink2!.dev) };
    return { relayed: relayed.address, up0: after.up0.tx - before.up0.tx, up1: after.up1.tx - before.up1.tx };
  }

  it('premium\'s relayed datagrams leave by uplink 1', async () => {
    const r = await run('premium');
    expect(r.relayed).toBe(PREMIUM_IP);
    expect(r.up1).toBeGreaterThanOrEqual(N);
    expect(r.up0).toBeLessThan(N / 10); // the client's own traffic and ICMP, not the relayed datagrams
  });

  it('everyone else\'s leave by uplink 0', async () => {
    const r = await run('basic');
    expect(r.relayed).toBe(relay.address);
    expect(r.up0).toBeGreaterThanOrEqual(N);
    expect(r.up1).toBeLessThan(N / 10);
  });
});
