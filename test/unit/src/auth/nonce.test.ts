import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NonceService } from '../../../../src/auth/nonce.js';

function clockAt(ms: number) {
  const clock = { t: ms, now: () => clock.t };
  return clock;
}

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const TTL = 600_000;

describe('NonceService', () => {
  it('issues <base36 ms>.<22 base64url chars>', () => {
    const clock = clockAt(1_700_000_000_000);
    const nonce = new NonceService({ key: KEY, ttlMs: TTL, clock }).issue();
    expect(nonce).toMatch(/^[0-9a-z]+\.[A-Za-z0-9_-]{22}$/);
    expect(parseInt(nonce.split('.')[0], 36)).toBe(1_700_000_000_000);
    expect(nonce.length).toBeLessThan(128); // RFC 8489 §14.10
  });

  it('accepts its own nonce until the ttl has passed, then calls it stale', () => {
    const clock = clockAt(1_000_000);
    const svc = new NonceService({ key: KEY, ttlMs: TTL, clock });
    const nonce = svc.issue();
    expect(svc.check(nonce)).toBe('ok');
    clock.t += TTL;
    expect(svc.check(nonce)).toBe('ok');
    clock.t += 1;
    expect(svc.check(nonce)).toBe('stale');
  });

  it('is fleet-wide: another service with the same key accepts it, one with another key does not', () => {
    const clock = clockAt(5_000_000);
    const nonce = new NonceService({ key: KEY, ttlMs: TTL, clock }).issue();
    expect(new NonceService({ key: Buffer.from(KEY), ttlMs: TTL, clock }).check(nonce)).toBe('ok');
    expect(new NonceService({ key: randomBytes(16), ttlMs: TTL, clock }).check(nonce)).toBe('invalid');
  });

  it('rejects a forged timestamp (tag bound to the time)', () => {
    const clock = clockAt(5_000_000);
    const svc = new NonceService({ key: KEY, ttlMs: TTL, clock });
    const [, tag] = svc.issue().split('.');
    const forged = `${(5_000_000 + 1000).toString(36)}.${tag}`;
    expect(svc.check(forged)).toBe('invalid');
  });

  it('calls a nonce from far in the future stale (skewed clock), not ok', () => {
    const clock = clockAt(10_000_000);
    const svc = new NonceService({ key: KEY, ttlMs: TTL, clock });
    const nonce = svc.issue();
    clock.t -= TTL + 1;
    expect(svc.check(nonce)).toBe('stale');
  });

  it('a stale nonce with a bad tag is invalid, not stale', () => {
    const clock = clockAt(10_000_000);
    const svc = new NonceService({ key: KEY, ttlMs: TTL, clock });
    const nonce = svc.issue();
    clock.t += 10 * TTL;
    const flipped = nonce.slice(0, -1) + (nonce.endsWith('A') ? 'B' : 'A');
    expect(svc.check(flipped)).toBe('invalid');
    expect(svc.check(nonce)).toBe('stale');
  });

  it('never throws on garbage and calls it invalid', () => {
    const clock = clockAt(10_000_000);
    const svc = new NonceService({ key: KEY, ttlMs: TTL, clock });
    const good = svc.issue();
    const garbage: unknown[] = [
      '', '.', 'abc', '.abc', 'abc.', `${good}.`, `.${good}`, good.toUpperCase(), good.replace('.', ':'),
      `${good}x`, good.slice(0, -1), 'ZZZZ.' + 'A'.repeat(22), `${'z'.repeat(11)}.${'A'.repeat(22)}`,
      `abc.${'\u0141'.repeat(22)}`, 'x'.repeat(10_000), '\u0000'.repeat(40), undefined, null, 42, {},
    ];
    for (const g of garbage) expect(svc.check(g as string)).toBe('invalid');
    for (let i = 0; i < 2000; i++) {
      const s = randomBytes(1 + (i % 60)).toString(i % 2 ? 'latin1' : 'base64url');
      expect(svc.check(s)).toBe('invalid');
    }
  });

  it('after setKey, new nonces use the new key and old ones live out their ttl', () => {
    const clock = clockAt(1_000_000);
    const newKey = randomBytes(32);
    const svc = new NonceService({ key: KEY, ttlMs: TTL, clock });
    const old = svc.issue();
    expect(svc.check(old)).toBe('ok'); // now in the tag cache, which setKey must not trust blindly
    svc.setKey(newKey);
    const fresh = svc.issue();
    expect(svc.check(old)).toBe('ok');
    expect(new NonceService({ key: newKey, ttlMs: TTL, clock }).check(fresh)).toBe('ok');
    expect(new NonceService({ key: KEY, ttlMs: TTL, clock }).check(fresh)).toBe('invalid');
    clock.t += TTL + 1;
    expect(svc.check(old)).toBe('stale');
    // a second change drops the first key entirely
    svc.setKey(randomBytes(32));
    expect(svc.check(old)).toBe('invalid');
  });
});
