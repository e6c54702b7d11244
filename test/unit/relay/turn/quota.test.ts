import { describe, expect, it } from 'vitest';
import { Quota, quotaKeyOf, takeTokens } from '../../../../relay/turn/quota.js';

describe('Quota', () => {
  it('admits up to capacity and per-user quota, and releases', () => {
    const q = new Quota({ capacity: 3, userQuota: 2 });
    expect(q.admit('a')).toBe('ok');
    expect(q.admit('a')).toBe('ok');
    expect(q.admit('a')).toBe('user-quota');
    expect(q.admit('b')).toBe('ok');
    expect(q.admit('c')).toBe('capacity');
    expect(q.total).toBe(3);
    q.release('a');
    expect(q.countFor('a')).toBe(1);
    expect(q.admit('c')).toBe('ok');
    q.release('nobody'); // unknown: no effect
    expect(q.total).toBe(3);
  });

  it('counts TURN REST usernames (expiry:user) under their user part', () => {
    expect(quotaKeyOf('1700000000:alice')).toBe('alice');
    expect(quotaKeyOf('1700000000')).toBe('1700000000');
    expect(quotaKeyOf('bob')).toBe('bob');
    expect(quotaKeyOf('x1:bob')).toBe('x1:bob');
    expect(quotaKeyOf('17:')).toBe('17:');
    const q = new Quota({ capacity: 10, userQuota: 1 });
    expect(q.admit('1700000000:alice')).toBe('ok');
    expect(q.admit('1700000999:alice')).toBe('user-quota');
    q.release('1700000000:alice');
    expect(q.admit('1700000999:alice')).toBe('ok');
  });

  it('transfer moves a slot to another user within their quota; the total stays', () => {
    const q = new Quota({ capacity: 3, userQuota: 1 });
    expect(q.admit('a')).toBe('ok');
    expect(q.admit('b')).toBe('ok');
    expect(q.transfer('a', 'b')).toBe('user-quota'); // b has no room: nothing moves
    expect([q.countFor('a'), q.countFor('b'), q.total]).toEqual([1, 1, 2]);
    expect(q.transfer('a', 'c')).toBe('ok');
    expect([q.countFor('a'), q.countFor('c'), q.total]).toEqual([0, 1, 2]);
    expect(q.transfer('1:c', '2:c')).toBe('ok'); // the same user (REST usernames): nothing to move
    expect([q.countFor('c'), q.total]).toEqual([1, 2]);
  });

  it('userQuota 0 means unlimited', () => {
    const q = new Quota({ capacity: 100, userQuota: 0 });
    for (let i = 0; i < 100; i++) expect(q.admit('a')).toBe('ok');
    expect(q.admit('a')).toBe('capacity');
  });
});

describe('takeTokens (bandwidth token bucket)', () => {
  it('allows a burst of one second, then the rate', () => {
    const s = { bucketTokens: 1000, bucketAt: 0 };
    expect(takeTokens(s, 600, 0, 1000)).toBe(true);
    expect(takeTokens(s, 600, 0, 1000)).toBe(false); // 400 left
    expect(takeTokens(s, 400, 0, 1000)).toBe(true);
    expect(takeTokens(s, 100, 50, 1000)).toBe(false); // 50 ms refilled 50 tokens only
    expect(takeTokens(s, 100, 100, 1000)).toBe(true); // 100 ms: 100 tokens
  });

  it('refills at the rate and caps at one second', () => {
    const s = { bucketTokens: 0, bucketAt: 0 };
    expect(takeTokens(s, 100_000, 50, 200_000)).toBe(false); // 10,000 tokens
    expect(takeTokens(s, 100_000, 500, 200_000)).toBe(true); // 100,000 tokens
    expect(takeTokens(s, 1, 500, 200_000)).toBe(false);
    expect(takeTokens(s, 200_000, 60_000, 200_000)).toBe(true); // capped at 200,000
    expect(takeTokens(s, 1, 60_000, 200_000)).toBe(false);
  });

  it('holds at least one largest datagram, so a cap below a datagram\'s size slows it but lets it through', () => {
    const s = { bucketTokens: 0, bucketAt: 0 };
    expect(takeTokens(s, 1200, 1_000, 1000)).toBe(false); // 1,000 tokens
    expect(takeTokens(s, 1200, 1_200, 1000)).toBe(true); // 1,200 tokens
    expect(takeTokens(s, 65_535, 600_000, 1000)).toBe(true); // capped at 65,535, not at 1,000
    expect(takeTokens(s, 1, 600_000, 1000)).toBe(false);
  });
});
