/**
 * Proof: a port reservation (EVEN-PORT R=1, RFC 8656 §7.2) cannot escape the quotas. A held RESERVATION-TOKEN
 * counts as one allocation of the user who made it, against `user-quota` (486) and the relay's `capacity` (508),
 * until an Allocate claims it (the claimant takes its slot over) or it expires after 30 s (RFC 8656 §18.9 /
 * §7.2: the slot and the port are given back). A real TurnServer on a UDP listener; its clock is a manual one
 * and its sweep runs on a faked setInterval (sockets and the clients' timers stay real).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StaticUsers } from '../../../src/auth/credential-store.js';
import type { TurnOptions } from '../../../relay/turn/turn-options.js';
import type { TurnClient } from '../../support/turn-client.js';
import { codeOf, startRelay, USER, USER2, type Relay } from './relay-fixture.js';

const USER3 = { name: 'carol', password: 'secret-c' };
let now = 1_700_000_000_000;
const clock = { now: () => now };
let relay: Relay | undefined;

afterEach(async () => {
  await relay?.close();
  relay = undefined;
  vi.useRealTimers();
});

async function start(options: Partial<TurnOptions>): Promise<Relay> {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  relay = await startRelay(options, { clock, nonceTtlMs: 3_600_000, credentials: new StaticUsers([USER, USER2, USER3]) });
  return relay;
}

/** Moves the manual clock on and runs one sweep. */
function advance(seconds: number): void {
  now += seconds * 1000;
  vi.advanceTimersByTime(1000);
}

const as = (r: Relay, user: { name: string; password: string }): Promise<TurnClient> =>
  r.client({ username: user.name, password: user.password });

describe('RESERVATION-TOKEN and quotas', () => {
  it('100 cycles of Allocate(EVEN-PORT R=1) + Refresh 0 by one user hold one reservation, not 100', async () => {
    const r = await start({ userQuota: 2, minPort: 41000, maxPort: 41199 });
    const alice = await as(r, USER);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const outcome = await alice.allocate({ evenPort: { reserve: true } }).then(
        async () => {
          await alice.refresh(0);
          return 'ok';
        },
        (err: { code?: number }) => String(err.code),
      );
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The first cycle's reservation is held (one slot); every later one needs two more: 486.
    expect(Object.fromEntries(outcomes)).toEqual({ ok: 1, 486: 99 });
    expect(r.server.allocationCount).toBe(0);
    // Another user's EVEN-PORT R=1 finds an even pair: the range was not emptied.
    const bob = await as(r, USER2);
    const pair = await bob.allocate({ evenPort: { reserve: true } });
    expect(pair.reservationToken).toHaveLength(8);
    expect(pair.relayed[0].port % 2).toBe(0);
    // Alice may still allocate without a reservation (1 held + 1).
    expect((await alice.allocate()).relayed).toHaveLength(1);
    await alice.refresh(0);
    // 30 s later the reservation has expired and given its slot back: a new EVEN-PORT R=1 fits again.
    advance(29);
    expect(await codeOf(alice.allocate({ evenPort: { reserve: true } }))).toBe(486);
    advance(2);
    expect((await alice.allocate({ evenPort: { reserve: true } })).reservationToken).toHaveLength(8);
  });

  it('user-quota 1: EVEN-PORT R=1 needs two slots (486); a plain Allocate fits', async () => {
    const r = await start({ userQuota: 1 });
    const alice = await as(r, USER);
    expect(await codeOf(alice.allocate({ evenPort: { reserve: true } }))).toBe(486);
    expect((await alice.allocate({ evenPort: { reserve: false } })).reservationToken).toBeUndefined();
    expect(r.server.allocationCount).toBe(1);
  });

  it('a held reservation counts against the relay capacity (508) until it expires after 30 s', async () => {
    const r = await start({ capacity: 2 });
    const alice = await as(r, USER);
    const pair = await alice.allocate({ evenPort: { reserve: true } });
    await alice.refresh(0); // the reservation stays: 1 of 2
    const bob = await as(r, USER2);
    await bob.allocate(); // 2 of 2
    const carol = await as(r, USER3);
    expect(await codeOf(carol.allocate())).toBe(508);
    expect(r.server.allocationCount).toBe(1);

    advance(29); // still held
    expect(await codeOf(carol.allocate())).toBe(508);
    advance(2); // 31 s: expired and swept
    const token = await as(r, USER);
    expect(await codeOf(token.allocate({ reservationToken: pair.reservationToken }))).toBe(508);
    expect((await carol.allocate()).relayed).toHaveLength(1);
    expect(r.server.allocationCount).toBe(2);
  });

  it('the Allocate that claims a reservation takes its slot over, also when another user claims it', async () => {
    const r = await start({ userQuota: 3 });
    const [rtp, rtcp, third, fourth, fifth] = await Promise.all([1, 2, 3, 4, 5].map(() => as(r, USER)));
    const pair = await rtp.allocate({ evenPort: { reserve: true } }); // alice: 2 (allocation + reservation)
    const claimed = await rtcp.allocate({ reservationToken: pair.reservationToken }); // alice: still 2
    expect(claimed.relayed[0].port).toBe(pair.relayed[0].port + 1);
    await third.allocate(); // alice: 3
    expect(await codeOf(fourth.allocate())).toBe(486);

    const [bob, bob2, bob3] = await Promise.all([1, 2, 3].map(() => as(r, USER2)));
    const bobPair = await bob.allocate({ evenPort: { reserve: true } }); // bob: 2
    await bob2.allocate(); // bob: 3
    expect(await codeOf(bob3.allocate())).toBe(486);
    await third.refresh(0); // alice: 2
    await fourth.allocate({ reservationToken: bobPair.reservationToken }); // alice: 3, bob: 2
    expect(await codeOf(fifth.allocate())).toBe(486);
    await bob3.allocate(); // bob: 3
    expect(r.server.allocationCount).toBe(6);
  });
});
