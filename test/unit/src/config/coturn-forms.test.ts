/**
 * coturn's value forms the relay config accepts: `user=NAME:0xKEY` (the hashed long-term key, used as the key,
 * never as a password) and peer ranges `FIRST-LAST` (turned into the exact covering CIDR blocks).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { longTermKey } from '../../../../src/auth/long-term.js';
import { rangeToCidrs } from '../../../../src/config/ip-range.js';
import { loadRelayConfig } from '../../../../src/config/schema.js';
import { isAnyturnError } from '../../../../src/errors.js';

function invalid(argv: string[]): string {
  try {
    loadRelayConfig(argv);
  } catch (err) {
    if (isAnyturnError(err)) return err.message;
    throw err;
  }
  throw new Error('expected ATN_ERR_CONFIG_INVALID');
}

describe('user NAME:0xKEY (coturn hashed key)', () => {
  const key = createHash('md5').update('alice:example.org:secret').digest('hex');

  it('is read as the key MD5(name:realm:pass), not as a password', () => {
    const config = loadRelayConfig(['--realm', 'example.org', '--user', `alice:0x${key}`, '--user', 'bob:plain']);
    const users = new StaticUsers(config.user);
    expect(users.keysFor('alice', 'example.org', 0)).toEqual([longTermKey('alice', 'example.org', 'secret')]);
    expect(users.keysFor('bob', 'example.org', 0)).toEqual([longTermKey('bob', 'example.org', 'plain')]);
  });

  it('other 0x texts stay literal passwords (coturn needs exactly 32 hex digits)', () => {
    const config = loadRelayConfig(['--user', 'carol:0x1234', '--user', `dave:0x${key}ff`]);
    expect(config.user).toEqual([{ name: 'carol', password: '0x1234' }, { name: 'dave', password: `0x${key}ff` }]);
  });

  it('setUsers replaces every user', () => {
    const users = new StaticUsers([{ name: 'a', password: 'x' }]);
    users.setUsers([{ name: 'b', key: Buffer.alloc(16, 1) }]);
    expect(users.keysFor('a', 'r', 0)).toEqual([]);
    expect(users.keysFor('b', 'r', 0)).toEqual([Buffer.alloc(16, 1)]);
    expect(users.size).toBe(1);
  });
});

describe('peer ranges FIRST-LAST', () => {
  it('become the exact covering CIDR blocks', () => {
    expect(rangeToCidrs('10.0.0.1-10.0.0.40')).toEqual([
      '10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/30', '10.0.0.8/29', '10.0.0.16/28', '10.0.0.32/29', '10.0.0.40/32',
    ]);
    expect(rangeToCidrs('10.0.0.0-10.0.255.255')).toEqual(['10.0.0.0/16']);
    expect(rangeToCidrs('0.0.0.0-255.255.255.255')).toEqual(['0.0.0.0/0']);
    expect(rangeToCidrs('fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')).toEqual(['fc00::/7']);
    expect(rangeToCidrs('::ffff:10.0.0.0-::ffff:10.0.0.3')).toEqual(['::ffff:10.0.0.0/126']);
  });

  it('are refused when reversed or mixing families', () => {
    expect(rangeToCidrs('10.0.0.5-10.0.0.1')).toBeUndefined();
    expect(rangeToCidrs('10.0.0.1-::1')).toBeUndefined();
    expect(invalid(['--deny-peer', '10.0.0.5-10.0.0.1'])).toMatch(/^deny-peer\[0\]: not a CIDR block or FIRST-LAST range/);
  });

  it('mix with CIDRs in deny-peer and allow-peer', () => {
    const config = loadRelayConfig(['--deny-peer', '192.0.2.0/24', '--deny-peer', '198.51.100.10-198.51.100.11', '--allow-peer', '10.1.0.0-10.1.0.255']);
    expect(config.denyPeer).toEqual(['192.0.2.0/24', '198.51.100.10/31']);
    expect(config.allowPeer).toEqual(['10.1.0.0/24']);
  });
});
