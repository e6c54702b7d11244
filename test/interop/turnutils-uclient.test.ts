/**
 * Interop with a client no one here wrote: coturn's turnutils_uclient against anyturn (the compiled daemon) over
 * UDP, TCP and TLS, to a turnutils_peer echo peer and client-to-client (-y), with long-term credentials and with a
 * TURN REST API secret (-W = our --auth-secret). Every run must end with zero lost packets.
 *
 * The runs are independent clients of one relay, so they run concurrently (the file stays fast); each case then
 * asserts its own run.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeSelfSigned, type SelfSigned } from '../integration/relay/self-signed.js';
import { freePorts, startRelayProcess, type RelayProcess } from '../integration/relay/relay-process.js';
import { requireCoturnTools, runUclient, startPeer, type UclientRun } from './coturn-tools.js';

const USER = 'interop';
const PASSWORD = 'interop-pass';
const SECRET = 'rest-secret-for-uclient';
const MESSAGES = 10;
const CLIENTS = 2;

let relay: RelayProcess | undefined;
let peer: ChildProcess | undefined;
let cert: SelfSigned | undefined;
let port: number;
let tlsPort: number;
let peerPort: number;
let metricsPort: number;
const runs = new Map<string, Promise<UclientRun>>();

/** The uclient command lines of each case (server address last). */
function cases(): Record<string, string[]> {
  const common = ['-n', String(MESSAGES), '-m', String(CLIENTS), '-l', '100', '-z', '5'];
  const lt = ['-u', USER, '-w', PASSWORD];
  const toPeer = ['-e', '127.0.0.1', '-r', String(peerPort)];
  const udp = ['-p', String(port)];
  const tls = ['-t', '-S', '-p', String(tlsPort)];
  return {
    'udp': [...udp, ...lt, ...toPeer, ...common],
    'tcp': ['-t', ...udp, ...lt, ...toPeer, ...common],
    'tls': [...tls, ...lt, ...toPeer, ...common],
    'udp client-to-client': ['-y', ...udp, ...lt, ...common],
    'tcp client-to-client': ['-y', '-t', ...udp, ...lt, ...common],
    // uclient itself loses messages in TLS client-to-client mode at short intervals, against coturn's own
    // turnserver too (measured: -z 5 → 40-55% lost, -z 20 -m 1 → 10% lost; -z 50 → 0): a client-side limit of
    // its TLS reader, so this case paces at 50 ms.
    'tls client-to-client': ['-y', ...tls, ...lt, ...common.slice(0, 6), '-z', '50'],
    'udp REST secret': [...udp, '-W', SECRET, '-u', 'alice', ...toPeer, ...common],
    'tcp REST secret': ['-t', ...udp, '-W', SECRET, '-u', 'bob', ...toPeer, ...common],
    'udp Send/Data indications': ['-s', ...udp, ...lt, ...toPeer, ...common],
    'tcp odd length (ChannelData padding)': ['-t', ...udp, ...lt, ...toPeer, ...common.slice(0, 4), '-l', '101', '-z', '5'],
  };
}

beforeAll(async () => {
  requireCoturnTools();
  [port, tlsPort, peerPort, metricsPort] = await freePorts(4);
  cert = makeSelfSigned('127.0.0.1');
  peer = await startPeer('127.0.0.1', peerPort);
  relay = await startRelayProcess([
    '--port', String(port),
    '--tls-port', String(tlsPort), '--tls-cert', cert.certFile, '--tls-key', cert.keyFile,
    '--realm', 'interop.test',
    '--user', `${USER}:${PASSWORD}`,
    '--auth-secret', SECRET,
    '--allow-peer', '127.0.0.0/8',
    '--min-port', '45000', '--max-port', '45999',
    '--metrics', `127.0.0.1:${metricsPort}`,
    '--log-level', 'warn',
  ], { name: 'anyturn (uclient interop)' });
  for (const [name, args] of Object.entries(cases())) runs.set(name, runUclient([...args, '127.0.0.1']));
  await Promise.all(runs.values());
});

afterAll(async () => {
  await relay?.stop();
  peer?.kill('SIGKILL');
  cert?.remove();
});

function describeRun(run: UclientRun): string {
  return `turnutils_uclient ${run.args.join(' ')} -> exit ${run.code}\n${run.output.split('\n').slice(-12).join('\n')}`;
}

describe('turnutils_uclient against anyturn: zero loss', () => {
  // Case names only: the ports are filled in when the runs start.
  for (const name of Object.keys(cases())) {
    it(name, async () => {
      const run = await runs.get(name)!;
      expect(run.code, describeRun(run)).toBe(0);
      expect(run.summary, describeRun(run)).toBeDefined();
      const s = run.summary!;
      expect(s.sent).toBeGreaterThanOrEqual(MESSAGES * CLIENTS);
      expect(s.received).toBe(s.sent);
      expect(s.lost).toBe(0);
      expect(s.lostPercent).toBe(0);
      expect(s.sendDropped).toBe(0);
    });
  }

  it('the relay counted the allocations, TCP and TLS connections', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const value = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
    expect(value(/^turn_allocations_created_total (\d+)/m)).toBeGreaterThanOrEqual(20);
    expect(value(/^turn_stream_connections_accepted_total\{protocol="tcp"\} (\d+)/m)).toBeGreaterThan(0);
    expect(value(/^turn_stream_connections_accepted_total\{protocol="tls"\} (\d+)/m)).toBeGreaterThan(0);
    expect(value(/^turn_packets_dropped_total\{reason="malformed"\} (\d+)/m)).toBe(0);
  });
});

describe('turnutils_uclient against anyturn: wrong credentials fail', () => {
  it('a wrong REST secret cannot allocate', async () => {
    const run = await runUclient(['-p', String(port), '-W', 'not-the-secret', '-u', 'mallory', '-e', '127.0.0.1', '-r', String(peerPort), '-n', '2', '127.0.0.1'], 20_000);
    expect(run.code).not.toBe(0);
    expect(run.summary).toBeUndefined();
    expect(run.output).toContain('Cannot complete Allocation');
  });

  it('a wrong password cannot allocate', async () => {
    const run = await runUclient(['-t', '-p', String(port), '-u', USER, '-w', 'wrong', '-e', '127.0.0.1', '-r', String(peerPort), '-n', '2', '127.0.0.1'], 20_000);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('Cannot complete Allocation');
  });
});
