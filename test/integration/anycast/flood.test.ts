/**
 * Proof (issue 3): a spoofed-source flood at G. 64 source addresses x 4 ports in a client namespace send minimal
 * unauthenticated Allocates (28 bytes) to G at 5000/s for 3 s; every relay of the PoP receives each of them. The
 * per-source token buckets bound what the sources get back: the measured byte amplification stays within the
 * bound documented in docs/anycast.md, and a real client keeps allocating through G during the flood.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnycastLab, REALM, metricValue, type AllocationResult, type FloodResult } from './anycast-lab.js';

const SOURCES = 64;
const PORTS_PER_SOURCE = 4;
const PACKETS = 15_000;
const RATE = 5000;
const GRACE_MS = 500;
/** Default --anycast-rate (answers/s per source) and its burst (2x). */
const PER_SOURCE_RATE = 10;
const PER_SOURCE_BURST = 20;
const RELAYS = 3;
const REQUEST_BYTES = 28; // header + REQUESTED-TRANSPORT
const NONCE_BYTES = 32;
/** 401 on G: header + ERROR-CODE (empty reason) + REALM + NONCE (docs/anycast.md). */
const ANSWER_BYTES = 20 + 8 + 4 + ((REALM.length + 3) & ~3) + 4 + NONCE_BYTES;

describe('anycast: spoofed-source flood at G', () => {
  let lab: AnycastLab;
  let sources: string[];

  beforeAll(async () => {
    lab = await AnycastLab.start({ relayArgs: ['--race-curve', 'linear', '--race-max-delay', '200'] });
    sources = await lab.addClientAddresses(1, 100, SOURCES);
  });

  afterAll(async () => {
    await lab?.stop();
  });

  it('amplification stays within the documented bound and real clients are still served', async () => {
    const flood = lab.clients[1].call<FloodResult>(
      {
        cmd: 'flood',
        target: { address: lab.g, port: 3478 },
        sources,
        portsPerSource: PORTS_PER_SOURCE,
        packets: PACKETS,
        rate: RATE,
        kind: 'allocate',
        graceMs: GRACE_MS,
      },
      60_000,
    );
    // a real client allocates through G while the flood runs (within its own per-source budget)
    const real: AllocationResult[] = await lab.clients[0].allocate(lab.g, { count: 15, concurrency: 1 });
    const f = await flood;

    expect(real.filter((r) => !r.ok)).toEqual([]);
    const slowest = Math.max(...real.map((r) => r.ms ?? Infinity));
    expect(slowest).toBeLessThan(2000);

    expect(f.sentPackets).toBe(PACKETS);
    expect(f.sentBytes).toBe(PACKETS * REQUEST_BYTES);
    expect(f.receivedPackets).toBeGreaterThan(0);
    // every answer is a minimal 401
    expect(f.receivedBytes).toBe(f.receivedPackets * ANSWER_BYTES);

    // Requests arrive for as long as the flood is sent (plus a little queueing): the buckets refill over that time.
    const seconds = (f.sendMs + 100) / 1000;
    const amplification = f.receivedBytes / f.sentBytes;
    // docs/anycast.md: A = N x (answer / request) x min(1, (burst / T + rate) / r), r = requests per second per source
    const perSourceRequestRate = PACKETS / SOURCES / seconds;
    const bound =
      RELAYS * (ANSWER_BYTES / REQUEST_BYTES) * Math.min(1, (PER_SOURCE_BURST / seconds + PER_SOURCE_RATE) / perSourceRequestRate);
    const unbounded = RELAYS * (ANSWER_BYTES / REQUEST_BYTES);
    console.log(
      `flood: ${f.sentPackets} requests (${f.sentBytes} B) in ${f.sendMs} ms -> ${f.receivedPackets} answers ` +
        `(${f.receivedBytes} B): amplification ${amplification.toFixed(2)} (bound ${bound.toFixed(2)}, ` +
        `without rate limit ${unbounded.toFixed(2)}); most answers to one source ${f.maxPerSource}`,
    );
    expect(amplification).toBeLessThanOrEqual(bound);
    expect(amplification).toBeLessThan(unbounded / 2);
    expect(f.maxPerSource).toBeLessThanOrEqual(RELAYS * (PER_SOURCE_BURST + PER_SOURCE_RATE * seconds));

    // the relays dropped the excess and say so; each one still answers on its unicast address
    for (let i = 0; i < RELAYS; i++) {
      const text = await lab.metrics(i);
      expect(metricValue(text, 'anyturn_anycast_answers_total{kind="dropped-rate-limit"}')).toBeGreaterThan(0);
      expect((await lab.clients[0].binding(lab.relay(i).relay.address)).ok).toBe(true);
    }
  });
});
