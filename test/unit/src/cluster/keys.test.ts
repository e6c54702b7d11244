import { describe, expect, it } from 'vitest';
import { ClusterKeys, relayedAddressText } from '../../../../src/cluster/keys.js';

describe('ClusterKeys', () => {
  it('puts every key and the channel in one hash slot ({prefix})', () => {
    const k = new ClusterKeys();
    const all = [
      k.relayIndex,
      k.relay('r1'),
      k.announcementIndex,
      k.announcement(k.announcementMember('pop-a', 'agent-1')),
      k.secrets,
      k.secretsVersion,
      k.epoch,
      k.nonceKey,
      k.relayedAddress({ family: 4, address: '10.0.0.1', port: 1 }),
      k.events,
    ];
    for (const key of all) expect(key.startsWith('{anyturn}:')).toBe(true);
    expect(new Set(all).size).toBe(all.length);
    expect(k.relay('r1')).toBe('{anyturn}:relay:r1');
    expect(new ClusterKeys('lab2').relay('r1')).toBe('{lab2}:relay:r1');
  });

  it('formats relayed addresses unambiguously', () => {
    expect(relayedAddressText({ family: 4, address: '192.0.2.1', port: 49152 })).toBe('192.0.2.1:49152');
    expect(relayedAddressText({ family: 6, address: '2001:db8::1', port: 49152 })).toBe('[2001:db8::1]:49152');
  });

  it('rejects prefixes that would break the hash tag', () => {
    expect(() => new ClusterKeys('a}b')).toThrow(RangeError);
    expect(() => new ClusterKeys('')).toThrow(RangeError);
  });
});
