/**
 * `npm start` with no credentials configured (no --user, no --auth-secret): the relay makes a random test user
 * so that it works at once, and prints ready-to-paste `turn:` URIs with that credential on stdout, e.g.
 *
 *   turn:127.0.0.1:3478?transport=udp  username=test-3f9a1c  credential=Yk2...
 *   turn:127.0.0.1:3478?transport=tcp  username=test-3f9a1c  credential=Yk2...
 *
 * A relay with configured credentials prints nothing here (its "ready" log line lists the listeners).
 */
import { randomBytes } from 'node:crypto';

export interface TestUser {
  name: string;
  password: string;
}

export interface BannerListener {
  protocol: 'udp' | 'tcp' | 'tls';
  role: 'unicast' | 'anycast';
  address: string;
  port: number;
}

/** A fresh random long-term user (username `test-<6 hex>`, 128-bit password). */
export function makeTestUser(): TestUser {
  return { name: `test-${randomBytes(3).toString('hex')}`, password: randomBytes(16).toString('base64url') };
}

/** RFC 7065 URI of one listener: turn:HOST:PORT?transport=udp|tcp, turns:HOST:PORT?transport=tcp for TLS. */
export function turnUri(l: BannerListener): string {
  const host = l.address.includes(':') ? `[${l.address}]` : l.address;
  const scheme = l.protocol === 'tls' ? 'turns' : 'turn';
  const transport = l.protocol === 'udp' ? 'udp' : 'tcp';
  return `${scheme}:${host}:${l.port}?transport=${transport}`;
}

/** The banner lines (one per unicast listener), each with the test credential. */
export function bannerLines(listeners: readonly BannerListener[], user: TestUser): string[] {
  return listeners
    .filter((l) => l.role === 'unicast')
    .map((l) => `${turnUri(l)}  username=${user.name}  credential=${user.password}`);
}
