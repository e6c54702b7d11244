/**
 * Proof (issue 11, item 3): amplification on G at any source spread. A client namespace sends minimal
 * unauthenticated Allocates (28 bytes, the smallest an attacker can send) to G from 64 and from 5,000 spoofed
 * source addresses, at 1k, 5k and 20k requests/s; every relay of the PoP receives each of them. One answer per
 * race and the byte budget (relay/anycast/answer-budget.ts) keep the bytes sent back at most the bytes received
 * (<= 1.0x), while a real client keeps allocating through G. The figures are printed (docs/anycast.md quotes
 * them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnycastLab, metricValue, type AllocationResult, type FloodResult } from './anycast-lab.js';

const REQUEST_BYTES = 28; // header + REQUESTED-TRANSPORT
const RELAYS = 3;
const PHASES = [
  { rate: 1_000, seconds: 2 },
  { rate: 5_000, seconds: 2 },
  { rate: 20_000, seconds: 1 },
];

describe('anycast: spoofed-source flood at G', () => {
  let lab: AnycastLab;
  const spread: Record<string, string[]> = {};

  beforeAll(async () => {
    lab = await AnycastLab.start({ relayArgs: ['--race-curve', 'linear', '--race-max-delay', '200'] });
    spread['64'] = await lab.addClientAddresses(1, 100, 64);
    spread['5000'] = await lab.addSpoofRange(1, 5000);
  });

  afterAll(async () => {
    await lab?.stop();
  });

  for (const sources of ['64', '5000'] as const) {
    for (const { rate, seconds } of PHASES) {
      it(`${sources} sources at ${rate} requests/s: bytes out <= bytes in, a real client is served`, async () => {
        const packets = rate * seconds;
        const flood = lab.clients[1].call<FloodResult>(
          {
            cmd: 'flood',
            target: { address: lab.g, port: 3478 },
            sources: spread[sources],
            portsPerSource: sources === '64' ? 4 : 1,
            packets,
            rate,
            kind: 'allocate',
            graceMs: 500,
          },
          120_000,
        );
        const real: AllocationResult[] = await lab.clients[0].allocate(lab.g, { count: 3, concurrency: 1 });
        const f = await flood;
        const ratio = f.receivedBytes / f.sentBytes;
        console.log(
          `flood: ${sources} sources, ${f.sentPackets} requests at ${rate}/s (${f.sentBytes} B in ${f.sendMs} ms) -> ` +
            `${f.receivedPackets} answers (${f.receivedBytes} B): bytes out/in ${ratio.toFixed(3)}; real client: ` +
            `${real.filter((r) => r.ok).length}/${real.length} allocations, slowest ${Math.max(...real.map((r) => r.ms ?? 0))} ms`,
        );
        expect(f.sentPackets).toBe(packets);
        expect(f.sentBytes).toBe(packets * REQUEST_BYTES);
        expect(f.receivedPackets).toBeGreaterThan(0); // the PoP still answers, within its budget
        expect(ratio).toBeLessThanOrEqual(1.0);
        expect(real.filter((r) => !r.ok)).toEqual([]);
      });
    }
  }

  it('the relays counted what the budget refused; each one still answers on its unicast address', async () => {
    let refused = 0;
    for (let i = 0; i < RELAYS; i++) {
      refused += metricValue(await lab.metrics(i), 'anyturn_anycast_answers_total{kind="dropped-budget"}') ?? 0;
      expect((await lab.clients[0].binding(lab.relay(i).relay.address)).ok).toBe(true);
    }
    expect(refused).toBeGreaterThan(0);
  });
});
