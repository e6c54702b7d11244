/**
 * `--race single` with the cluster store: the anycast responder's RelayDirectory is the registry's relays of the
 * relay's own PoP (relay/cluster-sync.ts ClusterRelayDirectory). Relay A (PoP pop1, anycast address G on
 * loopback) answers an unauthenticated Allocate on G exactly for the client flows that weighted rendezvous
 * hashing over {A, B} gives to A, and stays silent for those it gives to B. Relay C of another PoP is in the
 * registry but not in A's directory (otherwise some flows would go to C and A would be silent for them too).
 * The probes are bursts of fresh unauthenticated requests, exactly what the byte budget limits: it is off here.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flowKey, singleResponder } from '../../../relay/anycast/single-responder.js';
import { Method, StunClass, StunWriter, decodeStun, newTransactionId } from '../../../src/stun/index.js';
import { startRedis, startRelay, status, stopAll, USER, PASSWORD, waitFor, type RedisServer, type TestRelay } from './helpers.js';

const G = '127.0.0.87';
const FLOWS = 40;

let redis: RedisServer;
let a: TestRelay;
const others: TestRelay[] = [];
const sockets: dgram.Socket[] = [];

beforeAll(async () => {
  redis = await startRedis();
  const common = ['--redis', redis.url, '--user', `${USER}:${PASSWORD}`, '--race', 'single', '--anycast-rate', '1000', '--anycast-budget', '0'];
  a = await startRelay('single-a', [...common, '--anycast', G]);
  others.push(
    await startRelay('single-b', common),
    await startRelay('single-c', common, { pop: 'pop2' }),
  );
  for (let i = 0; i < FLOWS; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
    sockets.push(s);
  }
}, 40_000);

afterAll(async () => {
  await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  await stopAll([a, ...others]);
  await redis?.cleanup();
});

/** Sends one unauthenticated Allocate on G from every socket; resolves with the local ports that got an answer. */
async function probe(graceMs: number): Promise<Set<number>> {
  const answered = new Set<number>();
  const listeners = sockets.map((s) => {
    const onMessage = (m: Buffer) => {
      const msg = decodeStun(m);
      if (typeof msg !== 'string' && msg.method === Method.Allocate && msg.cls === StunClass.ErrorResponse) answered.add(s.address().port);
    };
    s.on('message', onMessage);
    return () => s.off('message', onMessage);
  });
  try {
    for (const s of sockets) {
      const w = new StunWriter().reset(Method.Allocate, StunClass.Request, newTransactionId()).addRequestedTransport(17).addFingerprint();
      s.send(w.toBuffer(), a.port, G);
    }
    // Answers at load 0 come at once; then a bounded grace for any answer that should not come.
    const deadline = Date.now() + graceMs;
    await waitFor('the grace period', () => Date.now() >= deadline, graceMs + 1000, 20);
    return answered;
  } finally {
    for (const off of listeners) off();
  }
}

describe('--race single with the registry as the relay directory', () => {
  it('answers exactly the flows rendezvous hashing over its own PoP gives to it', async () => {
    await waitFor('three relays registered', async () => (await status(redis.url)).relays.length === 3, 8000, 100);
    const pop1 = [{ id: 'single-a', load: 0 }, { id: 'single-b', load: 0 }];
    const mine = new Set(
      sockets
        .map((s) => s.address().port)
        .filter((port) => singleResponder(pop1, flowKey('udp', '127.0.0.1', port, G, a.port)) === 'single-a'),
    );
    // Both sides must occur, or the proof proves nothing.
    expect(mine.size).toBeGreaterThan(5);
    expect(mine.size).toBeLessThan(FLOWS - 5);
    const withC = [...pop1, { id: 'single-c', load: 0 }];
    const mineIfCWereIn = sockets.filter((s) => singleResponder(withC, flowKey('udp', '127.0.0.1', s.address().port, G, a.port)) === 'single-a');
    expect(mineIfCWereIn.length).toBeLessThan(mine.size);

    // A's store refreshes its registry cache every second: poll until its answers match.
    let last: Set<number> = new Set();
    await waitFor('A answering exactly its flows', async () => {
      last = await probe(300);
      return last.size === mine.size && [...mine].every((p) => last.has(p));
    }, 10_000, 10).catch((err: Error) => {
      throw new Error(`${err.message}: expected ${[...mine].sort()} got ${[...last].sort()}`);
    });
  });
});
