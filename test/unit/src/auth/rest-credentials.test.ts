import { describe, expect, it } from 'vitest';
import { restCredentials, restExpiry, restPassword } from '../../../../src/auth/rest-credentials.js';

// Vectors computed outside Node, with Python's hmac module:
//   base64.b64encode(hmac.new(b"north-secret", b"1700086400:alice", hashlib.sha1).digest())
const NOW_MS = 1_700_000_000_123; // 1700000000 s + 123 ms
const DAY = 86_400;

describe('restCredentials (coturn use-auth-secret format)', () => {
  it('known answer with a user', () => {
    const c = restCredentials('north-secret', { user: 'alice', ttlSeconds: DAY, nowMs: NOW_MS });
    expect(c).toEqual({ username: '1700086400:alice', credential: 'Nni2GlD6PVaoCP0Cx2DhLKDWjyY=', ttl: DAY });
  });

  it('known answer without a user', () => {
    const c = restCredentials('north-secret', { ttlSeconds: DAY, nowMs: NOW_MS });
    expect(c).toEqual({ username: '1700086400', credential: '2qpvCAfxmqWyllulrFgjc60oiiI=', ttl: DAY });
  });

  it('another secret gives another password', () => {
    expect(restPassword('south-secret', '1700086400:alice')).toBe('xvR0P3bEO7Bv9k6Ivy0JKM90vKI=');
  });

  it('expiry is now (whole seconds) + ttl', () => {
    const c = restCredentials('s', { user: 'bob', ttlSeconds: 60, nowMs: 1_000_999 });
    expect(c.username).toBe('1060:bob');
  });
});

describe('restExpiry', () => {
  it('reads expiry[:user] and coturn\'s user:expiry', () => {
    expect(restExpiry('1700086400')).toBe(1700086400);
    expect(restExpiry('1700086400:alice')).toBe(1700086400);
    expect(restExpiry('1700086400:a:b')).toBe(1700086400);
    expect(restExpiry('alice:1700086400')).toBe(1700086400);
  });

  it('has none for plain user names and garbage', () => {
    for (const u of ['alice', '', ':', 'alice:bob', '12a:x', 'x:12a', '-5', '1e9', '9'.repeat(40)]) {
      expect(restExpiry(u)).toBeUndefined();
    }
  });
});
