/**
 * The UDP listeners ask the kernel for `--udp-buffer` bytes of receive and send buffer (the kernel default,
 * ~208 KiB, overflows in bursts above ~30k packets/s: docs/benchmarks.md). Linux caps the request at
 * net.core.rmem_max / wmem_max and reports twice the granted size (bookkeeping overhead) in `ss -m`.
 */
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { sh } from '../../lab/netns.js';
import { freePorts, startRelayProcess, type RelayProcess } from './relay-process.js';

const sysctl = (name: string): number => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8').trim());

async function socketBuffers(port: number): Promise<{ rb: number; tb: number }> {
  const { stdout } = await sh('ss', ['-uanm', 'sport', '=', `:${port}`]);
  const m = /skmem:\([^)]*\brb(\d+)[^)]*\btb(\d+)/.exec(stdout);
  if (!m) throw new Error(`no UDP socket on port ${port} in:\n${stdout}`);
  return { rb: Number(m[1]), tb: Number(m[2]) };
}

describe('UDP listener buffers', () => {
  const relays: RelayProcess[] = [];
  afterAll(async () => {
    await Promise.all(relays.map((r) => r.stop()));
  });

  it('are the configured size (as far as rmem_max/wmem_max allow), default 4 MiB', async () => {
    const [a, b] = await freePorts(2);
    relays.push(await startRelayProcess(['--listen', '127.0.0.1', '--port', String(a), '--user', 'u:p', '--no-tcp']));
    relays.push(await startRelayProcess(['--listen', '127.0.0.1', '--port', String(b), '--user', 'u:p', '--no-tcp', '--udp-buffer', '262144']));
    const granted = (requested: number, max: string): number => 2 * Math.min(requested, sysctl(max));

    expect(await socketBuffers(a)).toEqual({ rb: granted(4 * 1024 * 1024, 'rmem_max'), tb: granted(4 * 1024 * 1024, 'wmem_max') });
    expect(await socketBuffers(b)).toEqual({ rb: granted(262144, 'rmem_max'), tb: granted(262144, 'wmem_max') });
  });
});
