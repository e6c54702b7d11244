/** Race group pieces: the wire format (authenticated, fresh), the per-request ranking, the byte budget. */
import { describe, expect, it } from 'vitest';
import { AnswerBudget } from '../../../../relay/anycast/answer-budget.js';
import { loadStepOf, raceKeyOf, raceRank, requestHashOf } from '../../../../relay/anycast/race-rank.js';
import {
  decodeRaceMessage,
  encodeClaim,
  encodePresence,
  FRESH_MS,
  groupKeyOf,
  MAC_BYTES,
  RaceMessageType,
} from '../../../../relay/anycast/race-wire.js';

const KEY = groupKeyOf(Buffer.alloc(32, 1));
const OTHER = groupKeyOf(Buffer.alloc(32, 2));
const NOW = 1_700_000_000_000;
const TID = Buffer.from('00112233445566778899aabb', 'hex');

describe('race group wire format', () => {
  it('round-trips a presence and a claim', () => {
    const p = decodeRaceMessage(encodePresence({ sender: 'r1', sentAt: NOW, loadStep: 7, draining: true, full: false }, KEY), [KEY], NOW);
    expect(p).toEqual({ type: RaceMessageType.Presence, sender: 'r1', sentAt: NOW, loadStep: 7, draining: true, full: false });
    const c = decodeRaceMessage(
      encodeClaim({ sender: 'relay-2', sentAt: NOW, clientAddress: '2001:db8::7', clientPort: 40000, transactionId: TID, requestHash: 0xdeadbeef }, KEY),
      [KEY],
      NOW + 10,
    );
    expect(c).toEqual({
      type: RaceMessageType.Claim, sender: 'relay-2', sentAt: NOW, clientAddress: '2001:db8::7', clientPort: 40000, transactionId: TID,
      requestHash: 0xdeadbeef,
    });
  });

  it('refuses another fleet key, a flipped bit, a stale or future stamp, truncation and junk; accepts the previous key', () => {
    const claim = encodeClaim({ sender: 'r1', sentAt: NOW, clientAddress: '192.0.2.1', clientPort: 1, transactionId: TID, requestHash: 7 }, KEY);
    expect(decodeRaceMessage(claim, [OTHER], NOW)).toBe('mac');
    expect(decodeRaceMessage(claim, [OTHER, KEY], NOW)).not.toBeTypeOf('string');
    for (let i = 4; i < claim.length; i++) {
      const bad = Buffer.from(claim);
      bad[i] ^= 1;
      expect(decodeRaceMessage(bad, [KEY], NOW)).toBe('mac');
    }
    expect(decodeRaceMessage(claim, [KEY], NOW + FRESH_MS + 1)).toBe('stale');
    expect(decodeRaceMessage(claim, [KEY], NOW - FRESH_MS - 1)).toBe('stale');
    expect(decodeRaceMessage(claim.subarray(0, 10), [KEY], NOW)).toBe('short');
    expect(decodeRaceMessage(Buffer.alloc(64), [KEY], NOW)).toBe('magic');
    const wrongVersion = Buffer.from(claim);
    wrongVersion[2] = 9;
    expect(decodeRaceMessage(wrongVersion, [KEY], NOW)).toBe('version');
    expect(claim.length).toBeGreaterThan(MAC_BYTES);
  });

  it('never throws on random input', () => {
    for (let i = 0; i < 5000; i++) {
      const junk = Buffer.from(Array.from({ length: (i % 90) + 1 }, () => Math.floor(Math.random() * 256)));
      if (i % 2 === 0 && junk.length >= 2) junk.writeUInt16BE(0x4152, 0);
      expect(typeof decodeRaceMessage(junk, [KEY], NOW)).toBe('string');
    }
  });
});

describe('race ranking', () => {
  const relays = ['r1', 'r2', 'r3'].map((id) => ({ id, loadStep: 0 }));
  const rankOf = (key: string, set: typeof relays, id: string): number => raceRank(key, set.find((r) => r.id === id)!, set);

  it('gives every request exactly one rank-0 relay, and a permutation of ranks', () => {
    for (let i = 0; i < 2000; i++) {
      const key = raceKeyOf('192.0.2.1', 1000 + i, TID, 1);
      expect(relays.map((r) => rankOf(key, relays, r.id)).sort()).toEqual([0, 1, 2]);
    }
  });

  it('spreads equal load evenly (each relay first for about a third of requests)', () => {
    const wins = new Map<string, number>();
    for (let i = 0; i < 6000; i++) {
      const key = raceKeyOf('192.0.2.1', 1000 + i, TID, 1);
      const winner = relays.find((r) => rankOf(key, relays, r.id) === 0)!.id;
      wins.set(winner, (wins.get(winner) ?? 0) + 1);
    }
    for (const id of ['r1', 'r2', 'r3']) expect(wins.get(id)!).toBeGreaterThan(1700);
  });

  it('puts the least-loaded relay first for every request', () => {
    const loaded = [{ id: 'r1', loadStep: 6 }, { id: 'r2', loadStep: 0 }, { id: 'r3', loadStep: 2 }];
    for (let i = 0; i < 500; i++) {
      const key = raceKeyOf('192.0.2.1', i, TID, 1);
      expect(rankOf(key, loaded, 'r2')).toBe(0);
      expect(rankOf(key, loaded, 'r3')).toBe(1);
      expect(rankOf(key, loaded, 'r1')).toBe(2);
    }
  });

  it('keys two requests that reuse a transaction id apart, and a retransmission together', () => {
    const challenge = Buffer.from('Allocate');
    const retry = Buffer.from('Allocate + MESSAGE-INTEGRITY');
    expect(raceKeyOf('192.0.2.1', 1, TID, requestHashOf(challenge))).not.toBe(raceKeyOf('192.0.2.1', 1, TID, requestHashOf(retry)));
    expect(raceKeyOf('192.0.2.1', 1, TID, requestHashOf(challenge))).toBe(raceKeyOf('192.0.2.1', 1, TID, requestHashOf(Buffer.from(challenge))));
  });

  it('quantises load scores into steps of 1/20', () => {
    expect([loadStepOf(0), loadStepOf(0.049), loadStepOf(0.05), loadStepOf(0.3), loadStepOf(1), loadStepOf(NaN)]).toEqual([0, 0, 1, 6, 20, 0]);
  });
});

describe('answer budget', () => {
  it('earns earnRatio x its share of the bytes heard, spends only what it holds, refunds per allocation, never above the burst', () => {
    const b = new AnswerBudget({ burstBytes: 100, refundBytes: 30, reserveBytes: 0, earnRatio: 0.5 });
    expect(b.trySpend(100)).toBe(true);
    expect(b.trySpend(1)).toBe(false);
    b.earn(180, 3);
    expect(b.balance).toBe(30);
    expect(b.trySpend(31)).toBe(false);
    b.refund();
    expect(b.balance).toBe(60);
    b.earn(1000, 1);
    expect(b.balance).toBe(100);
  });

  it('keeps the reserve for retransmissions', () => {
    const b = new AnswerBudget({ burstBytes: 100, refundBytes: 0, reserveBytes: 40, earnRatio: 1 });
    expect(b.trySpend(60)).toBe(true);
    expect(b.trySpend(10)).toBe(false);
    expect(b.trySpend(40, true)).toBe(true);
    expect(b.balance).toBe(0);
  });
});

describe('answer budget off', () => {
  it('burstBytes 0 allows every answer', () => {
    const b = new AnswerBudget({ burstBytes: 0, refundBytes: 0, reserveBytes: 0, earnRatio: 1 });
    for (let i = 0; i < 100; i++) expect(b.trySpend(1000)).toBe(true);
  });
});
