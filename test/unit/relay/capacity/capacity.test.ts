/**
 * Cross-PoP capacity: RemoteOverflow (a full PoP's designated relay names the least-loaded relay with room in the
 * nearest other PoP) and StandbyGate (a hot spare joins the race above a load threshold and leaves with hysteresis),
 * each on the embedded cluster store with a fake clock, and both as the anycast responder uses them.
 */
import { AnswerBudget, DEFAULT_ANSWER_BUDGET } from '../../../../relay/anycast/answer-budget.js';
import { describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { NonceService } from '../../../../src/auth/nonce.js';
import { MemoryClusterStore } from '../../../../src/cluster/memory-store.js';
import type { RelayHeartbeat, RelayState } from '../../../../src/cluster/types.js';
import { silentLogger } from '../../../../src/log.js';
import { Attr, Method, StunClass, StunWriter, decodeStun, newTransactionId, readAddress, readErrorCode } from '../../../../src/stun/index.js';
import { DrainState } from '../../../../relay/anycast/drain.js';
import { AnycastMetrics } from '../../../../relay/anycast/metrics.js';
import { DEFAULT_RATE_LIMIT_OPTIONS, SourceRateLimiter } from '../../../../relay/anycast/rate-limit.js';
import { AnycastResponder, type OverflowTarget } from '../../../../relay/anycast/responder.js';
import { RemoteOverflow } from '../../../../relay/capacity/remote-overflow.js';
import { StandbyGate } from '../../../../relay/capacity/standby.js';
import type { ClientTransport } from '../../../../relay/turn/client-transport.js';
import { FakeTime } from '../anycast/fake-time.js';

function beat(id: string, pop: string, load: number, state: RelayState = 'active', address = `10.0.${pop.length}.${id.length}`): RelayHeartbeat {
  return {
    id, pop, capacity: 10, allocations: Math.round(load * 10), load, bandwidthBps: 0, state,
    addresses: [{ transport: 'udp', family: 4, address, port: 3478 }, { transport: 'tcp', family: 4, address, port: 3478 }],
  };
}

async function storeWith(time: FakeTime, beats: RelayHeartbeat[]): Promise<MemoryClusterStore> {
  const store = new MemoryClusterStore({ clock: time });
  for (const b of beats) await store.heartbeat(b, 60_000);
  return store;
}

describe('RemoteOverflow', () => {
  const distances = new Map([['near', 10], ['far', 50]]);

  it('when every relay of the PoP is full or draining, the lowest id names the least-loaded relay with room in the nearest PoP', async () => {
    const time = new FakeTime();
    const store = await storeWith(time, [
      beat('a1', 'home', 1, 'full'), beat('a2', 'home', 0.3, 'draining'),
      beat('n1', 'near', 0.7, 'active', '10.2.0.1'), beat('n2', 'near', 0.2, 'active', '10.2.0.2'), beat('n3', 'near', 1, 'full', '10.2.0.3'),
      beat('f1', 'far', 0, 'active', '10.3.0.1'), beat('x1', 'unlisted', 0, 'active', '10.4.0.1'),
    ]);
    const a1 = new RemoteOverflow({ selfId: 'a1', pop: 'home', distances }, { store, clock: time });
    const a2 = new RemoteOverflow({ selfId: 'a2', pop: 'home', distances }, { store, clock: time });
    expect(a1.alternate('udp4')).toEqual({ family: 4, address: '10.2.0.2', port: 3478 });
    expect(a1.alternate('tcp4')).toEqual({ family: 4, address: '10.2.0.2', port: 3478 });
    expect(a1.alternate('udp6')).toBeUndefined(); // no relay with an IPv6 address
    expect(a2.alternate('udp4')).toBeUndefined(); // not the designated responder: one answer per client
    expect(a1.redirects).toBe(2);
    // the near PoP fills up: the far one is next; the unlisted PoP is never used
    await store.heartbeat(beat('n1', 'near', 1, 'full', '10.2.0.1'), 60_000);
    await store.heartbeat(beat('n2', 'near', 1, 'full', '10.2.0.2'), 60_000);
    time.advance(300);
    expect(a1.alternate('udp4')).toEqual({ family: 4, address: '10.3.0.1', port: 3478 });
    await store.heartbeat(beat('f1', 'far', 1, 'full', '10.3.0.1'), 60_000);
    time.advance(300);
    expect(a1.alternate('udp4')).toBeUndefined();
  });

  it('stays out while a relay of the PoP has room', async () => {
    const time = new FakeTime();
    const store = await storeWith(time, [beat('a1', 'home', 1, 'full'), beat('a2', 'home', 0.5), beat('n1', 'near', 0, 'active')]);
    expect(new RemoteOverflow({ selfId: 'a1', pop: 'home', distances }, { store, clock: time }).alternate('udp4')).toBeUndefined();
  });
});

describe('StandbyGate', () => {
  it('joins at the threshold, leaves only below threshold - hysteresis, and joins when it is alone', async () => {
    const time = new FakeTime();
    const store = await storeWith(time, [beat('s', 'home', 0), beat('o1', 'home', 0.5), beat('o2', 'home', 0.5)]);
    const gate = new StandbyGate({ selfId: 's', pop: 'home', threshold: 0.8, hysteresis: 0.2 }, { store, clock: time });
    const othersAt = async (l1: number, l2: number | RelayState): Promise<boolean> => {
      await store.heartbeat(beat('o1', 'home', l1), 60_000);
      await store.heartbeat(typeof l2 === 'number' ? beat('o2', 'home', l2) : beat('o2', 'home', 0.3, l2), 60_000);
      time.advance(300);
      return gate.silent;
    };
    expect(gate.silent).toBe(true);
    expect(await othersAt(0.75, 0.8)).toBe(true); // mean 0.775 < 0.8
    expect(await othersAt(0.7, 'full')).toBe(false); // full counts as 1: mean 0.85
    expect(await othersAt(0.7, 0.6)).toBe(false); // 0.65 >= 0.6: hysteresis keeps it in
    expect(await othersAt(0.5, 0.6)).toBe(true); // 0.55 < 0.6: out again
    expect(await othersAt(0.9, 'draining')).toBe(false); // draining ones are left out: mean of o1 = 0.9
    await store.deregister('o1');
    await store.deregister('o2');
    time.advance(300);
    expect(gate.othersLoad()).toBeUndefined();
    expect(gate.silent).toBe(false); // alone: the spare serves
  });
});

describe('AnycastResponder with overflow and standby', () => {
  class Transport implements ClientTransport {
    readonly role = 'anycast' as const;
    readonly protocol = 'udp' as const;
    readonly localAddress = '198.18.0.1';
    readonly localPort = 3478;
    readonly sent: Buffer[] = [];
    send(data: Buffer): void {
      this.sent.push(Buffer.from(data));
    }
  }

  function responder(load: number, deps: { overflow?: OverflowTarget; standby?: { silent: boolean } }) {
    const time = new FakeTime();
    const metrics = new AnycastMetrics();
    const r = new AnycastResponder(
      { realm: 'r', redirect: 'fast', race: 'race', raceMaxDelayMs: 100, raceCurve: 'linear', raceStepMs: 50, relayId: 'a1', alternates: { udp4: { family: 4, address: '10.9.9.11', port: 3478 } } },
      {
        credentials: new StaticUsers([{ name: 'alice', password: 'x' }]),
        nonces: new NonceService({ key: Buffer.alloc(32, 1), ttlMs: 60_000, clock: time }),
        clock: time, log: silentLogger(), load: { score: () => load }, drain: new DrainState(),
        limiter: new SourceRateLimiter(DEFAULT_RATE_LIMIT_OPTIONS, time), budget: new AnswerBudget(DEFAULT_ANSWER_BUDGET),
        metrics, timers: time, ...deps,
      },
    );
    return { r, metrics, time };
  }

  function allocate(r: AnycastResponder, t: Transport): void {
    const raw = new StunWriter().reset(Method.Allocate, StunClass.Request, newTransactionId()).addRequestedTransport(17).toBuffer();
    const msg = decodeStun(raw);
    if (typeof msg === 'string') throw new Error(msg);
    r.handle(t, msg, '192.0.2.10', 5000);
  }

  it('a full relay answers with a 300 to the remote relay instead of staying silent', () => {
    const { r, metrics } = responder(1, { overflow: { alternate: () => ({ family: 4, address: '10.10.10.11', port: 3478 }) } });
    const t = new Transport();
    allocate(r, t);
    expect(t.sent).toHaveLength(1);
    const m = decodeStun(t.sent[0]);
    if (typeof m === 'string') throw new Error(m);
    expect(readErrorCode(m)).toMatchObject({ code: 300 });
    expect(readAddress(m, Attr.ALTERNATE_SERVER)).toEqual({ family: 4, address: '10.10.10.11', port: 3478 });
    expect(metrics.get('300')).toBe(1);
  });

  it('without a remote target it stays silent as before; a standby relay stays silent and says why', () => {
    const full = responder(1, { overflow: { alternate: () => undefined } });
    const t = new Transport();
    allocate(full.r, t);
    expect(t.sent).toHaveLength(0);
    expect(full.metrics.get('silent-full')).toBe(1);
    const spare = responder(0, { standby: { silent: true }, overflow: { alternate: () => ({ family: 4, address: '10.10.10.11', port: 3478 }) } });
    allocate(spare.r, t);
    expect(t.sent).toHaveLength(0);
    expect(spare.metrics.get('silent-standby')).toBe(1);
    const joined = responder(0, { standby: { silent: false } });
    allocate(joined.r, t);
    expect(t.sent).toHaveLength(1);
  });
});
