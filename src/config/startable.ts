import { isIP } from 'node:net';
import { isLoopback, isWildcard } from './fields.js';

/**
 * Relay settings that are each valid but together would start, report ready, and then fail every client
 * (docs/config.md "Refused at start-up"). Called by the relay schema's cross-checks with the values as written;
 * each problem is an issue on the key the operator should change.
 */
export interface StartableInput {
  listen: readonly string[];
  /** As written (undefined = the listen addresses). */
  relayIp: readonly string[] | undefined;
  port: number;
  minPort: number;
  maxPort: number;
  anycast: readonly string[];
  race: string;
  /** A cluster store is configured. */
  redis: boolean;
  /** `nonce-key` is configured. */
  nonceKey: boolean;
  /** listen / relay-ip addresses an external-ip maps to a PUBLIC one (canonical spelling). */
  mappedPrivates: ReadonlySet<string>;
}

export type IssueSink = (path: (string | number)[], message: string) => void;

export function checkStartable(c: StartableInput, issue: IssueSink): void {
  checkRelayPorts(c, issue);
  checkAnycast(c, issue);
}

/**
 * The relay port range must leave a port to relay on: `min-port = max-port = port` on a relay-ip that a UDP
 * listener holds would answer every Allocate with 508.
 */
function checkRelayPorts(c: StartableInput, issue: IssueSink): void {
  if (c.minPort !== c.maxPort || c.minPort !== c.port) return;
  const relayIp = c.relayIp ?? c.listen;
  const held = relayIp.find((ip) => c.listen.includes(ip) || c.listen.some((l) => isWildcard(l) && isIP(l) === isIP(ip)));
  if (held !== undefined) {
    issue(['min-port'], `the relay port range ${c.minPort}-${c.maxPort} is only the listener port, which the UDP listener holds on ${held}: no port is left to relay on`);
  }
}

/**
 * With anycast, every relay behind G must accept the others' nonces and redirect clients to an address they can
 * reach; `race: single` needs the PoP's relay registry.
 */
function checkAnycast(c: StartableInput, issue: IssueSink): void {
  if (c.race === 'single' && !c.redis) {
    issue(['race'], 'single needs redis (the PoP\'s relay registry chooses the one relay); without it every relay answers');
  }
  if (c.anycast.length === 0) return;
  if (!c.nonceKey && !c.redis) {
    issue(['nonce-key'], 'is required with anycast unless redis is given: every relay behind G must accept the nonces the others issue (the same key on every relay, e.g. `openssl rand -hex 32`)');
  }
  const gOutsideLoopback = c.anycast.some((g) => isIP(g) !== 0 && !isLoopback(g));
  c.listen.forEach((ip, i) => {
    if (isWildcard(ip)) {
      issue(['listen', i], `${ip} cannot be used with anycast: G must be answered by the anycast listener and 300 redirects need this relay's own address`);
    } else if (gOutsideLoopback && isLoopback(ip) && !c.mappedPrivates.has(ip)) {
      issue(['listen', i], `${ip} is loopback: clients reaching G from elsewhere would be redirected to it (listen on the relay's unicast address)`);
    }
  });
}
