/**
 * coturn's turnutils_uclient (UDP, channels) through anyturn daemons with the eBPF kernel fast path, each in a
 * network namespace of its own (random names), concurrently:
 *  - loopback: relay, clients and echo peer on the namespace's `lo`: client-to-client (-y) and to an echo peer;
 *  - veth: client, relay and peer in three namespaces joined by veth pairs, the relay not forwarding: the kernel
 *    sends the rewritten datagrams out of the other interface itself;
 *  - the same loopback runs with `--offload off`, and with `--offload auto` as an unprivileged user (where the
 *    fast path cannot be attached: the relay says why and serves in userspace); `--offload on` unprivileged
 *    refuses to start (ATN_ERR_OFFLOAD_UNAVAILABLE).
 * Every run ends with zero loss; the relay's counters show who carried the ChannelData (the kernel, and Node's UDP
 * listener saw none of it; or Node, when offload is off).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAddress, addNamespace, addVeth, deleteNamespace, sh, waitFor } from '../lab/netns.js';
import { LabProcess, anyturnBin, nodeIn } from '../lab/proc.js';
import { startRelayProcess, type RelayProcess } from '../integration/relay/relay-process.js';
import { PEER, UCLIENT, parseUclientSummary, requireCoturnTools, runProcess, type UclientSummary } from './coturn-tools.js';

const TAG = randomBytes(3).toString('hex');
const LO_NS = `atn-ofl-${TAG}`;
const C_NS = `atn-ofc-${TAG}`;
const R_NS = `atn-ofr-${TAG}`;
const P_NS = `atn-ofp-${TAG}`;
const NAMESPACES = [LO_NS, C_NS, R_NS, P_NS];
/** 10.<random>.1.0/24 client side, 10.<random>.2.0/24 peer side (inside our own namespaces only). */
const NET = `10.${(parseInt(TAG.slice(0, 2), 16) % 200) + 20}`;

const MESSAGES = 100;
const CLIENTS = 4;
const AUTH = ['-u', 'user', '-w', 'pass'];
const RELAY_ARGS = ['--user', 'user:pass', '--realm', 'offload.test', '--no-tcp', '--log-level', 'info'];

interface Run {
  summary: UclientSummary | undefined;
  output: string;
}

async function uclient(ns: string, args: string[]): Promise<Run> {
  const r = await runProcess('ip', ['netns', 'exec', ns, UCLIENT, ...args], 60_000);
  return { summary: parseUclientSummary(r.output), output: r.output };
}

/** Prometheus text of a relay's /metrics, fetched inside its namespace. */
async function metricsOf(ns: string, port: number): Promise<Map<string, number>> {
  const text = await nodeIn(ns, `const r = await fetch('http://127.0.0.1:${port}/metrics'); process.stdout.write(await r.text());`);
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** Starts turnutils_peer (UDP echo) in a namespace; ready once its socket is bound (ss shows it). */
async function startEchoPeer(ns: string, address: string, port: number): Promise<LabProcess> {
  const peer = new LabProcess('turnutils_peer', ns, PEER, ['-L', address, '-p', String(port)]);
  await waitFor('turnutils_peer to bind', async () => {
    if (peer.exited) throw new Error(`turnutils_peer exited: ${peer.stderr}`);
    const { stdout } = await sh('ss', ['-Hun', 'state', 'unconnected', 'src', `${address}:${port}`], { ns });
    return stdout.trim() !== '' || undefined;
  }, 5000, 20);
  return peer;
}

function expectNoLoss(run: Run, expected: number): void {
  expect(run.summary, run.output.slice(-800)).toBeDefined();
  expect(run.summary!.sent).toBe(expected);
  expect(run.summary!.received).toBe(expected);
  expect(run.summary!.lost).toBe(0);
}

const processes: { stop(signal?: NodeJS.Signals): Promise<void> }[] = [];
let onRelay: RelayProcess;
let offRelay: RelayProcess;
let autoRelay: RelayProcess;
let vethRelay: RelayProcess;
let refused: LabProcess;
const runs = new Map<string, Promise<Run>>();

beforeAll(async () => {
  requireCoturnTools();
  for (const ns of NAMESPACES) await deleteNamespace(ns);
  for (const ns of NAMESPACES) await addNamespace(ns);
  // veth lab: client C ── R (relay, no forwarding) ── P peer
  await addVeth({ ns: C_NS, name: 'c0' }, { ns: R_NS, name: 'rc0' });
  await addVeth({ ns: P_NS, name: 'p0' }, { ns: R_NS, name: 'rp0' });
  await addAddress(C_NS, 'c0', `${NET}.1.2/24`);
  await addAddress(R_NS, 'rc0', `${NET}.1.1/24`);
  await addAddress(R_NS, 'rp0', `${NET}.2.1/24`);
  await addAddress(P_NS, 'p0', `${NET}.2.2/24`);
  await sh('ip', ['-n', C_NS, 'route', 'add', `${NET}.2.0/24`, 'via', `${NET}.1.1`]);
  await sh('ip', ['-n', P_NS, 'route', 'add', `${NET}.1.0/24`, 'via', `${NET}.2.1`]);

  const lo = (port: number, metrics: number, extra: string[]) => [
    '--listen', '127.0.0.1', '--port', String(port), '--metrics', `127.0.0.1:${metrics}`,
    '--min-port', String(port + 100), '--max-port', String(port + 199), '--allow-peer', '127.0.0.0/8', ...RELAY_ARGS, ...extra,
  ];
  [onRelay, offRelay, vethRelay] = await Promise.all([
    startRelayProcess(lo(3478, 9101, ['--offload', 'on']), { ns: LO_NS, name: 'anyturn (offload on)' }),
    startRelayProcess(lo(4478, 9102, ['--offload', 'off']), { ns: LO_NS, name: 'anyturn (offload off)' }),
    startRelayProcess([
      '--listen', `${NET}.1.1`, '--relay-ip', `${NET}.2.1`, '--port', '3478', '--metrics', '127.0.0.1:9101',
      '--allow-peer', `${NET}.0.0/16`, '--offload', 'on', ...RELAY_ARGS,
    ], { ns: R_NS, name: 'anyturn (offload on, veth)' }),
  ]);
  processes.push(onRelay, offRelay, vethRelay);
  // Unprivileged: auto falls back to userspace, on refuses to start.
  const nobody = ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, anyturnBin(), 'relay'];
  const autoProc = new LabProcess('anyturn (auto, unprivileged)', LO_NS, nobody[0], [...nobody.slice(1), ...lo(5478, 9103, ['--offload', 'auto'])]);
  processes.push(autoProc);
  const ready = await autoProc.waitForEvent('ready', (e) => e.msg === 'ready', 15_000);
  autoRelay = { proc: autoProc, ready, stop: () => autoProc.stop('SIGTERM') };
  refused = new LabProcess('anyturn (on, unprivileged)', LO_NS, nobody[0], [...nobody.slice(1), ...lo(6478, 9104, ['--offload', 'on'])]);
  processes.push(refused);

  const peers = await Promise.all([startEchoPeer(LO_NS, '127.0.0.1', 3480), startEchoPeer(P_NS, `${NET}.2.2`, 3480)]);
  processes.push(...peers);

  const common = ['-n', String(MESSAGES), '-m', String(CLIENTS), '-l', '160', '-z', '2', ...AUTH];
  runs.set('lo -y', uclient(LO_NS, ['-y', '-p', '3478', ...common, '127.0.0.1']));
  runs.set('lo peer', uclient(LO_NS, ['-p', '3478', '-e', '127.0.0.1', '-r', '3480', ...common, '127.0.0.1']));
  runs.set('veth peer', uclient(C_NS, ['-p', '3478', '-e', `${NET}.2.2`, '-r', '3480', ...common, `${NET}.1.1`]));
  runs.set('off -y', uclient(LO_NS, ['-y', '-p', '4478', ...common, '127.0.0.1']));
  runs.set('auto unprivileged -y', uclient(LO_NS, ['-y', '-p', '5478', ...common, '127.0.0.1']));
  await Promise.all(runs.values());
}, 120_000);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL').catch(() => undefined)));
  for (const ns of NAMESPACES) await deleteNamespace(ns);
});

/** Waits until the kernel's counters (credited every second) cover `packets` in each direction. */
async function kernelCounters(ns: string, port: number, packets: number): Promise<Map<string, number>> {
  return waitFor('the kernel counters to be credited', async () => {
    const m = await metricsOf(ns, port);
    const c2p = m.get('turn_offload_packets_total{direction="client-to-peer"}') ?? 0;
    const p2c = m.get('turn_offload_packets_total{direction="peer-to-client"}') ?? 0;
    return c2p >= packets && p2c >= packets ? m : undefined;
  }, 5000, 100);
}

describe('turnutils_uclient through the eBPF fast path', () => {
  it('client-to-client (-y) on loopback: zero loss, every ChannelData carried by the kernel, none seen by Node', async () => {
    const run = await runs.get('lo -y')!;
    expectNoLoss(run, MESSAGES * CLIENTS);
    // Each message crosses the relay twice (client → its relayed address → the other client): the kernel does it in one pass.
    const m = await kernelCounters(LO_NS, 9101, MESSAGES * CLIENTS);
    expect(m.get('turn_offload_enabled')).toBe(1);
    expect(m.get('turn_userspace_channel_data_total')).toBe(0);
    expect(m.get('turn_offload_install_failures_total')).toBe(0);
  });

  it('to an echo peer on loopback: zero loss, carried by the kernel', async () => {
    expectNoLoss(await runs.get('lo peer')!, MESSAGES * CLIENTS);
    const m = await kernelCounters(LO_NS, 9101, 2 * MESSAGES * CLIENTS); // -y and the echo run share this relay
    expect(m.get('turn_userspace_channel_data_total')).toBe(0);
  });

  it('across veth pairs (relay not forwarding): zero loss, carried by the kernel, none seen by Node', async () => {
    expectNoLoss(await runs.get('veth peer')!, MESSAGES * CLIENTS);
    const m = await kernelCounters(R_NS, 9101, MESSAGES * CLIENTS);
    expect(m.get('turn_userspace_channel_data_total')).toBe(0);
    const forwarding = await sh('sysctl', ['-n', 'net.ipv4.ip_forward'], { ns: R_NS });
    expect(forwarding.stdout.trim()).toBe('0');
  });

  it('--offload off: zero loss, all ChannelData relayed by Node', async () => {
    expectNoLoss(await runs.get('off -y')!, MESSAGES * CLIENTS);
    const m = await metricsOf(LO_NS, 9102);
    expect(m.get('turn_offload_enabled')).toBe(0);
    expect(m.get('turn_userspace_channel_data_total')).toBeGreaterThanOrEqual(MESSAGES * CLIENTS);
    expect(m.get('turn_offload_packets_total{direction="client-to-peer"}')).toBe(0);
  });

  it('--offload auto without privileges: says why, serves in userspace with zero loss', async () => {
    expectNoLoss(await runs.get('auto unprivileged -y')!, MESSAGES * CLIENTS);
    const why = autoRelay.proc.events.find((e) => e.msg === 'offload unavailable: UDP ChannelData is relayed in userspace');
    expect(String(why?.reason)).toMatch(/EPERM|Operation not permitted|permission/i);
    const m = await metricsOf(LO_NS, 9103);
    expect(m.get('turn_offload_enabled')).toBe(0);
    expect(m.get('turn_userspace_channel_data_total')).toBeGreaterThanOrEqual(MESSAGES * CLIENTS);
  });

  it('--offload on without privileges refuses to start with ATN_ERR_OFFLOAD_UNAVAILABLE', async () => {
    const code = await refused.exit(15_000);
    expect(code).not.toBe(0);
    expect(refused.stderr + refused.lines.join('\n')).toMatch(/ATN_ERR_OFFLOAD_UNAVAILABLE/);
    expect(refused.events.some((e) => e.msg === 'ready')).toBe(false);
  });
});
