/**
 * Running coturn's test clients (Debian package `coturn`) against a relay: turnutils_uclient (TURN load client,
 * summary parsed from its output), turnutils_peer (UDP echo peer) and turnutils_stunclient.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { waitFor } from '../lab/netns.js';

export const UCLIENT = '/usr/bin/turnutils_uclient';
export const PEER = '/usr/bin/turnutils_peer';
export const STUNCLIENT = '/usr/bin/turnutils_stunclient';

/** Throws (failing the suite, not skipping it) when the coturn tools are missing: scripts/pretest.sh installs them. */
export function requireCoturnTools(): void {
  for (const bin of [UCLIENT, PEER, STUNCLIENT]) {
    if (!existsSync(bin)) throw new Error(`${bin} is missing: install the Debian package coturn (scripts/pretest.sh)`);
  }
}

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  ms: number;
}

/** Runs a command to completion (stdout + stderr interleaved), killing it after `timeoutMs`. */
export function runProcess(cmd: string, args: string[], timeoutMs: number): Promise<ProcessResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, ms: Date.now() - started });
    });
  });
}

export interface UclientSummary {
  /** Messages sent and received by all clients ("start_mclient: tot_send_msgs=N, tot_recv_msgs=M"). */
  sent: number;
  received: number;
  /** "Total lost packets L (P%)". */
  lost: number;
  lostPercent: number;
  /** "total send dropped D". */
  sendDropped: number;
}

/**
 * Parses turnutils_uclient's closing summary, e.g.
 *   3: : start_mclient: tot_send_msgs=20, tot_recv_msgs=20
 *   3: : Total lost packets 0 (0.000000%), total send dropped 0 (0.000000%)
 * undefined when the run ended before printing it (failed allocation, ...).
 */
export function parseUclientSummary(output: string): UclientSummary | undefined {
  const totals = [...output.matchAll(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/gm)].at(-1);
  const lost = /Total lost packets (\d+) \(([\d.]+)%\), total send dropped (\d+)/.exec(output);
  if (totals === undefined || lost === null) return undefined;
  return {
    sent: Number(totals[1]),
    received: Number(totals[2]),
    lost: Number(lost[1]),
    lostPercent: Number(lost[2]),
    sendDropped: Number(lost[3]),
  };
}

export interface UclientRun extends ProcessResult {
  args: string[];
  summary: UclientSummary | undefined;
}

export async function runUclient(args: string[], timeoutMs = 30_000): Promise<UclientRun> {
  const r = await runProcess(UCLIENT, args, timeoutMs);
  return { ...r, args, summary: parseUclientSummary(r.output) };
}

/** turnutils_peer (UDP echo) on address:port; resolves once it echoes a probe datagram. */
export async function startPeer(address: string, port: number): Promise<ChildProcess> {
  const child = spawn(PEER, ['-L', address, '-p', String(port)], { stdio: 'ignore' });
  const probe = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  let echoed = false;
  probe.on('message', () => (echoed = true));
  await new Promise<void>((resolve) => probe.bind(0, address, () => resolve()));
  try {
    await waitFor('turnutils_peer to echo', () => {
      if (child.exitCode !== null) throw new Error(`turnutils_peer exited (${child.exitCode})`);
      if (echoed) return true;
      probe.send(Buffer.from('probe'), port, address);
      return undefined;
    }, 5_000, 50);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  } finally {
    probe.close();
  }
  return child;
}
