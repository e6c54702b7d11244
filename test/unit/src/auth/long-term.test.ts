import { describe, expect, it } from 'vitest';
import { longTermKey } from '../../../../src/auth/long-term.js';

describe('longTermKey', () => {
  it('is MD5(user:realm:pass) – the value coturn\'s `turnadmin -k` prints', () => {
    // `turnadmin -k -u alice -r example.org -p wonderland` -> 0x72f86f2053703faa0f521ce71cfe6f59
    expect(longTermKey('alice', 'example.org', 'wonderland').toString('hex')).toBe('72f86f2053703faa0f521ce71cfe6f59');
  });

  it('hashes UTF-8 (RFC 5769 §2.4 user name after SASLprep)', () => {
    const user = '\u30de\u30c8\u30ea\u30c3\u30af\u30b9';
    // python3: hashlib.md5((user + ":example.org:TheMatrIX").encode()).hexdigest()
    expect(longTermKey(user, 'example.org', 'TheMatrIX').toString('hex')).toBe('e8ca7ad59d5eb0518e312911d2dab2a9');
  });

  it('depends on every part', () => {
    const base = longTermKey('a', 'r', 'p');
    expect(base.length).toBe(16);
    expect(longTermKey('b', 'r', 'p').equals(base)).toBe(false);
    expect(longTermKey('a', 's', 'p').equals(base)).toBe(false);
    expect(longTermKey('a', 'r', 'q').equals(base)).toBe(false);
  });
});
