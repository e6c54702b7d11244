import { describe, expect, it } from 'vitest';
import { EgressTable, tenantOf } from '../../../../relay/turn/egress.js';

describe('EgressTable', () => {
  it('gives a tenant its relay address, everyone else the * entry, and nothing without a table', () => {
    const t = new EgressTable([
      { user: 'premium', address: '10.9.9.21' },
      { user: 'premium', address: 'fd00:9::21' },
      { user: '*', address: '10.9.9.11' },
    ]);
    expect(t.addressFor('premium', 4)).toBe('10.9.9.21');
    expect(t.addressFor('1767225600:premium', 4)).toBe('10.9.9.21');
    expect(t.addressFor('premium', 6)).toBe('fd00:9::21');
    expect(t.addressFor('basic', 4)).toBe('10.9.9.11');
    expect(t.addressFor('basic', 6)).toBeUndefined(); // no IPv6 entry: the normal rotation
    expect(new EgressTable([]).addressFor('premium', 4)).toBeUndefined();
    expect(new EgressTable([{ user: 'premium', address: '10.9.9.21' }]).addressFor('basic', 4)).toBeUndefined();
  });

  it('reads the tenant of a TURN REST name only when the prefix is an expiry', () => {
    expect(tenantOf('1767225600:alice')).toBe('alice');
    expect(tenantOf('alice:1767225600')).toBe('alice:1767225600');
    expect(tenantOf('alice')).toBe('alice');
  });
});
