/**
 * Behind 1:1 NAT (external-ip) the anycast responder's 300 names the public mapping of the listen address:
 * createAnycast (the daemon's wiring) on a fake ClientTransport that records what it sends, fake clock/timers.
 */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { NonceService } from '../../../../src/auth/nonce.js';
import { silentLogger } from '../../../../src/log.js';
import { Attr, Method, StunClass, StunWriter, decodeStun, newTransactionId, readAddress, readErrorCode, type StunMessage } from '../../../../src/stun/index.js';
import { alternatesFrom, createAnycast, type AnycastConfig } from '../../../../relay/anycast/setup.js';
import { RelayMetrics } from '../../../../relay/metrics.js';
import type { ClientTransport } from '../../../../relay/turn/client-transport.js';
import type { TransportProtocol } from '../../../../relay/turn/five-tuple.js';
import { FakeTime } from './fake-time.js';

const G = '198.18.0.1';
const G6 = '2001:db8:ffff::1';

const config: AnycastConfig = {
  id: 'r1',
  realm: 'lab',
  listen: ['10.0.0.5', 'fd00::5'],
  externalIp: [
    { public: '203.0.113.10', private: '10.0.0.5' },
    { public: '2001:db8::10', private: 'fd00::5' },
  ],
  port: 3478,
  tcp: true,
  tlsPort: 5349,
  capacity: 1000,
  linkCapacity: 125_000_000,
  redirect: 'fast',
  race: 'race',
  raceMaxDelay: 100,
  raceCurve: 'linear',
  raceGroup: undefined,
  raceStep: 50,
  anycastBudget: 2048,
  anycastRate: 10,
};

class FakeTransport implements ClientTransport {
  readonly role = 'anycast' as const;
  readonly sent: Buffer[] = [];
  constructor(
    readonly protocol: TransportProtocol,
    readonly localAddress: string,
    readonly localPort: number,
  ) {}
  send(data: Buffer): void {
    this.sent.push(Buffer.from(data));
  }
  last(): StunMessage {
    const m = decodeStun(this.sent[this.sent.length - 1]);
    if (typeof m === 'string') throw new Error(`undecodable answer: ${m}`);
    return m;
  }
}

function allocate(): StunMessage {
  const m = decodeStun(new StunWriter().reset(Method.Allocate, StunClass.Request, newTransactionId()).addRequestedTransport(17).toBuffer());
  if (typeof m === 'string') throw new Error(m);
  return m;
}

describe('anycast ALTERNATE-SERVER behind 1:1 NAT', () => {
  it('alternatesFrom advertises the public mapping of each listen address, per transport and family', () => {
    expect(alternatesFrom(config)).toEqual({
      udp4: { family: 4, address: '203.0.113.10', port: 3478 },
      tcp4: { family: 4, address: '203.0.113.10', port: 3478 },
      tls4: { family: 4, address: '203.0.113.10', port: 5349 },
      udp6: { family: 6, address: '2001:db8::10', port: 3478 },
      tcp6: { family: 6, address: '2001:db8::10', port: 3478 },
      tls6: { family: 6, address: '2001:db8::10', port: 5349 },
    });
    // Only a listen address that is a mapped PRIVATE one changes; spelling does not matter.
    const partial = { listen: ['10.0.0.6', 'FD00:0::5'], port: 3478, tcp: false, tlsPort: undefined, externalIp: config.externalIp };
    expect(alternatesFrom(partial)).toEqual({
      udp4: { family: 4, address: '10.0.0.6', port: 3478 },
      udp6: { family: 6, address: '2001:db8::10', port: 3478 },
    });
  });

  it("the 300 to an Allocate on G carries the mapped address in ALTERNATE-SERVER", () => {
    const time = new FakeTime();
    const setup = createAnycast(config, {
      credentials: new StaticUsers([{ name: 'alice', password: 'wonderland' }]),
      nonces: new NonceService({ key: Buffer.alloc(32, 3), ttlMs: 600_000, clock: time }),
      clock: time,
      log: silentLogger(),
      registry: new Registry(),
      metrics: new RelayMetrics(new Registry()),
      allocations: () => 0,
      timers: time,
    });
    try {
      const cases: [TransportProtocol, string, string, number, { family: 4 | 6; address: string; port: number }][] = [
        ['udp', G, '192.0.2.77', 3478, { family: 4, address: '203.0.113.10', port: 3478 }],
        ['tls', G, '192.0.2.77', 5349, { family: 4, address: '203.0.113.10', port: 5349 }],
        ['udp', G6, '2001:db8:77::1', 3478, { family: 6, address: '2001:db8::10', port: 3478 }],
      ];
      for (const [protocol, local, client, localPort, expected] of cases) {
        const t = new FakeTransport(protocol, local, localPort);
        setup.responder.handle(t, allocate(), client, 40000);
        time.advance(0); // an idle relay answers without delay
        expect(t.sent).toHaveLength(1);
        const res = t.last();
        expect(readErrorCode(res)).toMatchObject({ code: 300 });
        expect(readAddress(res, Attr.ALTERNATE_SERVER)).toEqual(expected);
      }
    } finally {
      setup.close();
    }
  });
});
