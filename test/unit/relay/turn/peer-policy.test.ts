import { describe, expect, it } from 'vitest';
import { AnyturnError } from '../../../../src/errors.js';
import { PeerPolicy } from '../../../../relay/turn/peer-policy.js';
import { parseCidr } from '../../../../src/config/fields.js';

describe('PeerPolicy', () => {
  const policy = new PeerPolicy({ allowPeers: [], denyPeers: [] });

  it.each([
    ['127.0.0.1', 4],
    ['127.255.255.254', 4],
    ['0.0.0.0', 4],
    ['0.1.2.3', 4],
    ['10.0.0.1', 4],
    ['172.16.0.1', 4],
    ['172.31.255.255', 4],
    ['192.168.1.1', 4],
    ['100.64.0.1', 4],
    ['100.127.255.255', 4],
    ['169.254.169.254', 4],
    ['224.0.0.1', 4],
    ['239.255.255.250', 4],
    ['240.0.0.1', 4],
    ['255.255.255.255', 4],
    ['::', 6],
    ['::1', 6],
    ['fc00::1', 6],
    ['fd12:3456::1', 6],
    ['fe80::1', 6],
    ['ff02::1', 6],
    ['::ffff:127.0.0.1', 6],
    ['::ffff:10.1.2.3', 6],
    ['::ffff:169.254.169.254', 6],
  ] as const)('refuses %s by default', (address, family) => {
    expect(policy.check(address, family)).toBe('deny');
  });

  it.each([
    ['8.8.8.8', 4],
    ['172.32.0.1', 4],
    ['100.128.0.1', 4],
    ['192.0.2.1', 4],
    ['2001:4860:4860::8888', 6],
    ['::ffff:8.8.8.8', 6],
  ] as const)('allows public %s', (address, family) => {
    expect(policy.check(address, family)).toBe('allow');
  });

  it('allowPeers overrides the defaults; denyPeers wins over both', () => {
    const p = new PeerPolicy({ allowPeers: ['10.0.0.0/8', 'fd00::/8'], denyPeers: ['10.9.0.0/16', '8.8.8.8'] });
    expect(p.isAllowed('10.1.2.3', 4)).toBe(true);
    expect(p.isAllowed('::ffff:10.1.2.3', 6)).toBe(true);
    expect(p.isAllowed('fd00::5', 6)).toBe(true);
    expect(p.isAllowed('10.9.1.1', 4)).toBe(false);
    expect(p.isAllowed('8.8.8.8', 4)).toBe(false);
    expect(p.isAllowed('8.8.4.4', 4)).toBe(true);
    expect(p.isAllowed('192.168.0.1', 4)).toBe(false);
  });

  it('parses CIDRs and rejects bad ones with ATN_ERR_CONFIG_INVALID', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 4 });
    expect(parseCidr('2001:db8::1')).toEqual({ address: '2001:db8::1', prefix: 128, family: 6 });
    for (const bad of ['10.0.0.0/33', '::/129', 'nonsense', '10.0.0.0/x', '1.2.3/8']) {
      expect(() => new PeerPolicy({ allowPeers: [bad], denyPeers: [] })).toThrow(AnyturnError);
    }
  });
});
