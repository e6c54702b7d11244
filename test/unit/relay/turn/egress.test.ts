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

  it('takes the cluster-wide rules through this host\'s uplinks: newest rule per tenant, configured entries on top', () => {
    const t = new EgressTable([{ user: 'vip', address: '10.9.9.31' }], [
      { name: 'uplink1', address: '10.9.9.21' }, { name: 'uplink1', address: 'fd00:9::21' }, { name: 'uplink2', address: '10.9.9.11' },
    ]);
    t.setShared(['premium=uplink1', '*=uplink2', 'premium=uplink2', 'vip=uplink2', 'other=uplink9']);
    expect(t.addressFor('premium', 4)).toBe('10.9.9.21'); // the newest premium rule
    expect(t.addressFor('premium', 6)).toBe('fd00:9::21');
    expect(t.addressFor('basic', 4)).toBe('10.9.9.11');
    expect(t.addressFor('vip', 4)).toBe('10.9.9.31'); // this relay's config wins
    expect(t.addressFor('other', 4)).toBe('10.9.9.11'); // an uplink this host lacks: as everyone else
    t.setShared([]);
    expect(t.addressFor('premium', 4)).toBeUndefined();
    expect(t.addressFor('vip', 4)).toBe('10.9.9.31');
  });

  it('reads the tenant of a TURN REST name only when the prefix is an expiry', () => {
    expect(tenantOf('1767225600:alice')).toBe('alice');
    expect(tenantOf('alice:1767225600')).toBe('alice:1767225600');
    expect(tenantOf('alice')).toBe('alice');
  });
});
