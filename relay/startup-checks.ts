/**
 * Start-up checks of a valid RelayConfig against the host it runs on, before anything is bound: a config that would
 * start and then refuse every client stops start-up with `ATN_ERR_CONFIG_INVALID: <key>: <reason>` instead.
 *
 *  - every relay-ip can be bound (a trial UDP bind on port 0): an address that is not this host's would make every
 *    Allocate fail with 508 once the relay is "ready";
 *  - an external-ip PUBLIC that is an address of this host (and not its own PRIVATE): clients would be sent to an
 *    address where nothing is bound for them.
 *
 * What is risky but can be meant (a /metrics address others can reach: POST /drain has no authentication) is a
 * loud warning, not a refusal: configWarnings.
 */
import dgram from 'node:dgram';
import { networkInterfaces } from 'node:os';
import { isLoopback } from '../src/config/fields.js';
import type { RelayConfig } from '../src/config/schema.js';
import { AnyturnError } from '../src/errors.js';
import { familyOf } from './turn/five-tuple.js';

/** One `<key>: <reason>` per problem found. */
type Problem = string;

/** Throws ATN_ERR_CONFIG_INVALID naming every key that cannot work on this host. */
export async function checkHost(config: RelayConfig, hostAddresses: ReadonlySet<string> = localAddresses()): Promise<void> {
  const problems: Problem[] = [];
  const bound = await Promise.all(config.relayIp.map(trialBind));
  bound.forEach((error, i) => {
    if (error !== undefined) {
      const ip = config.relayIp[i];
      problems.push(`relay-ip[${i}]: ${ip} cannot be bound (${error})${error === 'EADDRNOTAVAIL' ? ': it is not an address of this host' : ''}`);
    }
  });
  (config.externalIp ?? []).forEach((e, i) => {
    if (e.public !== e.private && hostAddresses.has(e.public)) {
      problems.push(`external-ip[${i}]: PUBLIC ${e.public} is an address of this host: clients would be sent there, but relayed ports are bound on ${e.private} (without 1:1 NAT, leave external-ip out)`);
    }
  });
  if (problems.length > 0) throw new AnyturnError('ATN_ERR_CONFIG_INVALID', problems.join('; '));
}

/** Risky settings that may be meant: each a `<key>: <reason>` line the daemon logs at warn at start-up. */
export function configWarnings(config: RelayConfig): string[] {
  const out: string[] = [];
  const metrics = config.metrics;
  if (metrics !== undefined && !isLoopback(metrics.address)) {
    const where = metrics.address === '0.0.0.0' || metrics.address === '::' ? 'on every address of this host' : `on ${metrics.address}`;
    out.push(`metrics: POST /drain and /undrain are served without authentication ${where}: anyone who reaches port ${metrics.port} can take this relay out of service (bind a management address, or firewall the port)`);
  }
  return out;
}

/** The addresses of this host's interfaces (in this network namespace). */
export function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/** Binds a UDP socket on `ip`, port 0, and closes it: undefined when that worked, else the error code. */
function trialBind(ip: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket(familyOf(ip) === 6 ? 'udp6' : 'udp4');
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      resolve(err.code ?? err.message);
    });
    socket.bind(0, ip, () => socket.close(() => resolve(undefined)));
  });
}
