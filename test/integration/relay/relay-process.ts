/**
 * Starting the compiled daemon (`node dist/bin/anyturn.js relay ...`) for integration and interop tests, and
 * picking ports that are free for both UDP and TCP.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { LabProcess, startAnyturn } from '../../lab/proc.js';

/** A port free on `host` for TCP and UDP at the time of the call (bound with port 0, then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, host, () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.once('error', () => resolve(false));
      s.bind(port, host, () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port');
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < count) out.add(await freePort(host));
  return [...out];
}

export interface RelayProcess {
  proc: LabProcess;
  /** The parsed "ready" log line. */
  ready: Record<string, unknown>;
  stop(): Promise<void>;
}

/** Starts `anyturn relay <args>` (inside `ns` when given) and waits for its "ready" log line. */
export async function startRelayProcess(args: string[], opts: { ns?: string; name?: string; timeoutMs?: number } = {}): Promise<RelayProcess> {
  const proc = startAnyturn(opts.ns ?? '', opts.name ?? 'anyturn relay', ['relay', ...args]);
  try {
    const ready = await proc.waitForEvent('ready', (e) => e.msg === 'ready', opts.timeoutMs ?? 15_000);
    return { proc, ready, stop: () => proc.stop('SIGTERM') };
  } catch (err) {
    await proc.stop('SIGKILL');
    throw err;
  }
}
