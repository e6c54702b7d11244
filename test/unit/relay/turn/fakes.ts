/**
 * Test doubles for the TURN core unit tests: a ClientTransport that records what the core sends, and helpers
 * to build (signed) requests with the codec.
 */
import { createHash } from 'node:crypto';
import { Registry } from 'prom-client';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { NonceService } from '../../../../src/auth/nonce.js';
import type { Clock } from '../../../../src/clock.js';
import { silentLogger } from '../../../../src/log.js';
import { Attr, StunClass, StunWriter, decodeStun, newTransactionId, type StunMessage } from '../../../../src/stun/index.js';
import { RelayMetrics } from '../../../../relay/metrics.js';
import type { ClientTransport, ListenerRole } from '../../../../relay/turn/client-transport.js';
import type { TransportProtocol } from '../../../../relay/turn/five-tuple.js';
import { TurnServer } from '../../../../relay/turn/turn-server.js';
import { turnOptions, type TurnOptions } from '../../../../relay/turn/turn-options.js';

export const REALM = 'unit.realm';
export const USER = { name: 'alice', password: 'pw-a' };
export const KEY = createHash('md5').update(`${USER.name}:${REALM}:${USER.password}`).digest();

export class FakeTransport implements ClientTransport {
  readonly protocol: TransportProtocol;
  readonly role: ListenerRole;
  readonly localAddress = '192.0.2.1';
  readonly localPort = 3478;
  readonly sent: { data: Buffer; address: string; port: number }[] = [];

  constructor(protocol: TransportProtocol = 'udp', role: ListenerRole = 'unicast') {
    this.protocol = protocol;
    this.role = role;
  }

  send(data: Buffer, address: string, port: number): void {
    this.sent.push({ data: Buffer.from(data), address, port });
  }

  /** Decoded messages sent so far (ChannelData is skipped). */
  messages(): StunMessage[] {
    const out: StunMessage[] = [];
    for (const s of this.sent) {
      const m = decodeStun(s.data);
      if (typeof m !== 'string') out.push(m);
    }
    return out;
  }

  last(): StunMessage {
    const m = this.messages();
    if (m.length === 0) throw new Error('nothing sent');
    return m[m.length - 1];
  }
}

export interface UnitServer {
  server: TurnServer;
  metrics: RelayMetrics;
  nonces: NonceService;
  nonce: string;
}

export function unitServer(options: Partial<TurnOptions> = {}, clock: Clock = { now: () => Date.now() }): UnitServer {
  const metrics = new RelayMetrics(new Registry());
  const nonces = new NonceService({ key: Buffer.from('unit-nonce-key'), ttlMs: 3_600_000, clock });
  const server = new TurnServer(turnOptions({ realm: REALM, allowPeers: ['127.0.0.0/8'], minPort: 50000, maxPort: 59999, ...options }), {
    credentials: new StaticUsers([USER, { name: 'bob', password: 'pw-b' }]),
    nonces,
    clock,
    log: silentLogger(),
    metrics,
  });
  return { server, metrics, nonces, nonce: nonces.issue() };
}

/** Encodes a request; with `nonce`, signs it as alice (or `user`/`key`). */
export function request(
  method: number,
  build?: (w: StunWriter) => void,
  sign?: { nonce: string; user?: string; key?: Buffer; sha256?: boolean; fingerprint?: boolean },
  cls: StunClass = StunClass.Request,
): Buffer {
  const w = new StunWriter().reset(method, cls, newTransactionId());
  build?.(w);
  if (sign !== undefined) {
    w.addString(Attr.USERNAME, sign.user ?? USER.name).addString(Attr.REALM, REALM).addString(Attr.NONCE, sign.nonce);
    if (sign.sha256) w.addMessageIntegritySha256(sign.key ?? KEY);
    else w.addMessageIntegrity(sign.key ?? KEY);
    if (sign.fingerprint !== false) w.addFingerprint();
  }
  return w.toBuffer();
}
