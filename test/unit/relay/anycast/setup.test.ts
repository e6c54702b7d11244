import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { NonceService } from '../../../../src/auth/nonce.js';
import { silentLogger } from '../../../../src/log.js';
import { alternatesFrom, createAnycast } from '../../../../relay/anycast/setup.js';
import { RelayMetrics } from '../../../../relay/metrics.js';
import { FakeTime } from './fake-time.js';

const config = {
  id: 'r1',
  realm: 'lab',
  listen: ['0.0.0.0', '10.9.9.11', 'fd00::11'],
  port: 3478,
  tcp: true,
  tlsPort: 5349,
  capacity: 1000,
  linkCapacity: 125_000_000,
  redirect: 'strict' as const,
  race: 'race' as const,
  raceMaxDelay: 100,
  raceCurve: 'linear' as const,
  anycastRate: 10,
  raceGroup: undefined,
  raceStep: 50,
  anycastBudget: 2048,
};

describe('createAnycast (daemon wiring)', () => {
  it('derives ALTERNATE-SERVER per transport and family from the specific unicast listen addresses', () => {
    expect(alternatesFrom(config)).toEqual({
      udp4: { family: 4, address: '10.9.9.11', port: 3478 },
      tcp4: { family: 4, address: '10.9.9.11', port: 3478 },
      tls4: { family: 4, address: '10.9.9.11', port: 5349 },
      udp6: { family: 6, address: 'fd00::11', port: 3478 },
      tcp6: { family: 6, address: 'fd00::11', port: 3478 },
      tls6: { family: 6, address: 'fd00::11', port: 5349 },
    });
    expect(alternatesFrom({ listen: ['10.0.0.1'], port: 3478, tcp: false, tlsPort: undefined })).toEqual({
      udp4: { family: 4, address: '10.0.0.1', port: 3478 },
    });
    expect(alternatesFrom({ listen: ['::', '0.0.0.0'], port: 3478, tcp: true, tlsPort: undefined })).toEqual({});
  });

  it('builds a responder whose score follows the allocations and registers the metrics', async () => {
    const time = new FakeTime();
    const registry = new Registry();
    let allocations = 0;
    const setup = createAnycast(config, {
      credentials: new StaticUsers([]),
      nonces: new NonceService({ key: Buffer.alloc(32, 1), ttlMs: 60_000, clock: time }),
      clock: time,
      log: silentLogger(),
      registry,
      metrics: new RelayMetrics(new Registry()),
      allocations: () => allocations,
      timers: time,
    });
    allocations = 250;
    expect(setup.load.score()).toBeCloseTo(0.25);
    setup.drain.drain();
    const text = await registry.metrics();
    expect(text).toContain('anyturn_load_score 0.25');
    expect(text).toContain('anyturn_anycast_draining 1');
    setup.close();
    setup.close();
    expect(time.armed).toBe(0);
  });
});
