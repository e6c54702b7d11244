import { describe, expect, it } from 'vitest';
import { RetransmitCache, type Entry } from '../../../../relay/turn/retransmit-cache.js';

const tid = (n: number): Buffer => Buffer.alloc(12, n);
const REQ = Buffer.from('request bytes');

describe('RetransmitCache', () => {
  it('miss → pending → hit with the same bytes', () => {
    const c = new RetransmitCache({ maxEntries: 10, ttlMs: 1000 });
    const key = RetransmitCache.keyOf('1|198.51.100.1|5000', tid(1));
    expect(c.lookup(key, REQ, 0).state).toBe('miss');
    const e = c.begin(key, REQ, 0);
    expect(c.lookup(key, REQ, 1).state).toBe('pending');
    const response = Buffer.from('response bytes');
    c.complete(e, response);
    const hit = c.lookup(key, Buffer.from(REQ), 2);
    expect(hit.state === 'hit' && hit.response).toBe(response);
  });

  it('a request that reuses the transaction id with other bytes is new: processed, and its answer replaces the old', () => {
    const c = new RetransmitCache({ maxEntries: 10, ttlMs: 1000 });
    const key = RetransmitCache.keyOf('1|198.51.100.1|5000', tid(1));
    const unauthenticated = Buffer.from('Allocate');
    const authenticated = Buffer.from('Allocate + USERNAME + MESSAGE-INTEGRITY');
    const first = c.begin(key, unauthenticated, 0);
    c.complete(first, Buffer.from('401'));
    expect(c.lookup(key, authenticated, 1).state).toBe('miss');
    const second = c.begin(key, authenticated, 1);
    c.complete(first, Buffer.from('late 401')); // the replaced entry cannot overwrite
    expect(c.lookup(key, authenticated, 2).state).toBe('pending');
    c.complete(second, Buffer.from('success'));
    const hit = c.lookup(key, authenticated, 3);
    expect(hit.state === 'hit' && hit.response.toString()).toBe('success');
    expect(c.lookup(key, unauthenticated, 3).state).toBe('miss');
  });

  it('keys differ by 5-tuple and by transaction id', () => {
    expect(RetransmitCache.keyOf('a', tid(1))).not.toBe(RetransmitCache.keyOf('a', tid(2)));
    expect(RetransmitCache.keyOf('a', tid(1))).not.toBe(RetransmitCache.keyOf('b', tid(1)));
  });

  it('forgets entries after the TTL', () => {
    const c = new RetransmitCache({ maxEntries: 10, ttlMs: 1000 });
    c.complete(c.begin('k', REQ, 0), Buffer.from('x'));
    expect(c.lookup('k', REQ, 999).state).toBe('hit');
    expect(c.lookup('k', REQ, 1000).state).toBe('miss');
    expect(c.size).toBe(0);
    c.begin('a', REQ, 0);
    c.begin('b', REQ, 500);
    c.prune(1200);
    expect(c.size).toBe(1);
  });

  it('is bounded: the oldest entries go first', () => {
    const c = new RetransmitCache({ maxEntries: 3, ttlMs: 60_000 });
    const entries: Entry[] = [];
    for (let i = 0; i < 10; i++) {
      entries.push(c.begin(`k${i}`, REQ, i));
      c.complete(entries[i], Buffer.from([i]));
    }
    expect(c.size).toBe(3);
    expect(c.lookup('k0', REQ, 10).state).toBe('miss');
    expect(c.lookup('k9', REQ, 10).state).toBe('hit');
    c.complete(entries[0], Buffer.from('late')); // evicted: ignored
    expect(c.lookup('k0', REQ, 10).state).toBe('miss');
  });

  it('stays correct far past its capacity, with replaced and forgotten keys in between', () => {
    const max = 100;
    const c = new RetransmitCache({ maxEntries: max, ttlMs: 60_000 });
    let previous: Entry | undefined;
    for (let i = 0; i < 10_000; i++) {
      let e = c.begin(`k${i}`, REQ, i);
      if (i % 7 === 0) e = c.begin(`k${i}`, REQ, i); // begun again before the answer: replaced entry
      c.complete(e, Buffer.from(String(i)));
      if (i % 11 === 0 && previous !== undefined) c.forget(previous);
      previous = e;
      expect(c.size).toBeLessThanOrEqual(max);
    }
    const last = c.lookup('k9999', REQ, 10_000);
    expect(last.state).toBe('hit');
    expect(c.lookup('k9990', REQ, 10_000).state).not.toBe('miss');
    expect(c.lookup('k5000', REQ, 10_000).state).toBe('miss');
    expect(c.lookup('k0', REQ, 10_000).state).toBe('miss');
  });
});
