import { describe, expect, it } from 'vitest';
import { Credentials, RestSecrets, StaticUsers } from '../../../../src/auth/credential-store.js';

// python3: hashlib.md5(f"{user}:anyturn:{password}".encode()).hexdigest(), password from rest-credentials.test.ts
const KEY_NORTH = '3ca7b48ba34bf8aa0718b27098ac9c0c'; // 1700086400:alice under north-secret
const KEY_SOUTH = '8db11219a8df0164ee797cf59a959abc'; // 1700086400:alice under south-secret
const USER = '1700086400:alice';
const EXPIRY_MS = 1_700_086_400_000;

const hex = (keys: Buffer[]) => keys.map((k) => k.toString('hex'));

describe('StaticUsers', () => {
  const users = new StaticUsers([
    { name: 'alice', password: 'wonderland' },
    { name: 'bob', password: 'builder' },
  ]);

  it('gives the one long-term key of a known user', () => {
    expect(hex(users.keysFor('alice', 'example.org', 0))).toEqual(['72f86f2053703faa0f521ce71cfe6f59']);
  });

  it('gives no key to unknown users', () => {
    expect(users.keysFor('carol', 'example.org', 0)).toEqual([]);
    expect(users.keysFor('', 'example.org', 0)).toEqual([]);
  });

  it('follows the realm', () => {
    const a = users.keysFor('bob', 'r1', 0)[0];
    const b = users.keysFor('bob', 'r2', 0)[0];
    expect(a.equals(b)).toBe(false);
    expect(users.keysFor('bob', 'r1', 0)[0].equals(a)).toBe(true);
  });
});

describe('RestSecrets', () => {
  it('gives one key per secret (rotation), in secret order', () => {
    const rest = new RestSecrets(['north-secret', 'south-secret']);
    expect(hex(rest.keysFor(USER, 'anyturn', EXPIRY_MS - 60_000))).toEqual([KEY_NORTH, KEY_SOUTH]);
  });

  it('gives no key once the username has expired', () => {
    const rest = new RestSecrets(['north-secret']);
    expect(hex(rest.keysFor(USER, 'anyturn', EXPIRY_MS + 999))).toEqual([KEY_NORTH]); // same second: still valid (coturn)
    expect(rest.keysFor(USER, 'anyturn', EXPIRY_MS + 1000)).toEqual([]);
  });

  it('gives no key for usernames without an expiry', () => {
    const rest = new RestSecrets(['north-secret']);
    expect(rest.keysFor('alice', 'anyturn', 0)).toEqual([]);
  });

  it('setSecrets retires and adds secrets', () => {
    const rest = new RestSecrets(['north-secret']);
    // asked twice: the second answer comes from the key cache, which setSecrets must drop
    expect(hex(rest.keysFor(USER, 'anyturn', 0))).toEqual([KEY_NORTH]);
    expect(hex(rest.keysFor(USER, 'anyturn', 0))).toEqual([KEY_NORTH]);
    rest.setSecrets(['south-secret']);
    expect(hex(rest.keysFor(USER, 'anyturn', 0))).toEqual([KEY_SOUTH]);
    rest.setSecrets([]);
    expect(rest.keysFor(USER, 'anyturn', 0)).toEqual([]);
  });

  it('keeps its own copy of the list', () => {
    const list = ['north-secret'];
    const rest = new RestSecrets(list);
    list.push('south-secret');
    expect(rest.keysFor(USER, 'anyturn', 0)).toHaveLength(1);
  });
});

describe('Credentials', () => {
  it('joins the keys of every store', () => {
    const both = new Credentials([
      new StaticUsers([{ name: USER, password: 'static' }]),
      new RestSecrets(['north-secret']),
    ]);
    const keys = hex(both.keysFor(USER, 'anyturn', 0));
    expect(keys).toHaveLength(2);
    expect(keys[1]).toBe(KEY_NORTH);
    expect(both.keysFor('nobody', 'anyturn', 0)).toEqual([]);
  });
});
