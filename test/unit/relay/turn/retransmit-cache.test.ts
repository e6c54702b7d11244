import { describe, expect, it } from 'vitest';
import { RetransmitCache } from '../../../../relay/turn/retransmit-cache.js';

const tid = (n: number): Buffer => Buffer.alloc(12, n);

describe('RetransmitCache', () => {
  it('miss → pending → hit with the same bytes', () => {
    const c = new RetransmitCache({ maxEntries: 10, ttlMs: 1000 });
    const key = RetransmitCache.keyOf('1|198.51.100.1|5000', tid(1));
    expect(c.lookup(key, 0).state).toBe('miss');
    c.begin(key, 0);
    expect(c.lookup(key, 1).state).toBe('pending');
    const response = Buffer.from('response bytes');
    c.complete(key, response);
    const hit = c.lookup(key, 2);
    expect(hit.state === 'hit' && hit.response).toBe(response);
  });

  it('keys differ by 5-tuple and by transaction id', () => {
    expect(RetransmitCache.keyOf('a', tid(1))).not.toBe(RetransmitCache.keyOf('a', tid(2)));
    expect(RetransmitCache.keyOf('a', tid(1))).not.toBe(RetransmitCache.keyOf('b', tid(1)));
  });

  it('forgets entries after the TTL', () => {
    const c = new RetransmitCache({ maxEntries: 10, ttlMs: 1000 });
    c.begin('k', 0);
    c.complete('k', Buffer.from('x'));
    expect(c.lookup('k', 999).state).toBe('hit');
    expect(c.lookup('k', 1000).state).toBe('miss');
    expect(c.size).toBe(0);
    c.begin('a', 0);
    c.begin('b', 500);
    c.prune(1200);
    expect(c.size).toBe(1);
  });

  it('is bounded: the oldest entries go first', () => {
    const c = new RetransmitCache({ maxEntries: 3, ttlMs: 60_000 });
    for (let i = 0; i < 10; i++) {
      c.begin(`k${i}`, i);
      c.complete(`k${i}`, Buffer.from([i]));
    }
    expect(c.size).toBe(3);
    expect(c.lookup('k0', 10).state).toBe('miss');
    expect(c.lookup('k9', 10).state).toBe('hit');
    c.complete('k0', Buffer.from('late')); // evicted: ignored
    expect(c.lookup('k0', 10).state).toBe('miss');
  });

  it('stays correct far past its capacity, with replaced and forgotten keys in between', () => {
    const max = 100;
    const c = new RetransmitCache({ maxEntries: max, ttlMs: 60_000 });
    for (let i = 0; i < 10_000; i++) {
      c.begin(`k${i}`, i);
      c.complete(`k${i}`, Buffer.from(String(i)));
      if (i % 7 === 0) c.begin(`k${i}`, i); // a retransmit before the answer: replaced entry
      if (i % 11 === 0) c.forget(`k${i - 1}`);
      expect(c.size).toBeLessThanOrEqual(max);
    }
    // the newest entries are still there (except the one forgotten), the old ones are gone
    const last = c.lookup('k9999', 10_000);
    expect(last.state).toBe('hit');
    expect(c.lookup('k9990', 10_000).state).not.toBe('miss');
    expect(c.lookup('k5000', 10_000).state).toBe('miss');
    expect(c.lookup('k0', 10_000).state).toBe('miss');
  });
});
