import { describe, expect, it } from 'vitest';
import { unicastAddresses } from '../../../../relay/cluster-sync.js';
import { AddressMap, NO_ADDRESS_MAP, canonicalIp } from '../../../../relay/turn/address-map.js';

const map = new AddressMap([
  { public: '203.0.113.10', private: '10.0.0.5' },
  { public: '2001:DB8:0::10', private: 'fd00:0:0::5' },
]);

describe('AddressMap (external-ip)', () => {
  it('advertises the public address for a mapped private one, in any spelling; others unchanged', () => {
    expect(map.advertised('10.0.0.5')).toBe('203.0.113.10');
    expect(map.advertised('fd00::5')).toBe('2001:db8::10');
    expect(map.advertised('FD00:0000::5')).toBe('2001:db8::10');
    expect(map.advertised('10.0.0.6')).toBe('10.0.0.6');
    expect(map.advertised('203.0.113.10')).toBe('203.0.113.10'); // public is not mapped again
    expect(map.mappings).toEqual([
      { public: '203.0.113.10', private: '10.0.0.5' },
      { public: '2001:db8::10', private: 'fd00::5' },
    ]);
    expect(map.size).toBe(2);
  });

  it('toPrivate: a peer on one of our public addresses is sent to on the private one; any other peer as given', () => {
    expect(map.toPrivate('203.0.113.10')).toBe('10.0.0.5');
    expect(map.toPrivate('2001:db8::10')).toBe('fd00::5');
    expect(map.toPrivate('198.51.100.7')).toBe('198.51.100.7');
    expect(map.toPrivate('10.0.0.5')).toBe('10.0.0.5');
  });

  it('toPublic: a source on one of our private addresses has a public one; any other source none', () => {
    expect(map.toPublic('10.0.0.5')).toBe('203.0.113.10');
    expect(map.toPublic('fd00::5')).toBe('2001:db8::10');
    expect(map.toPublic('198.51.100.7')).toBeUndefined();
    expect(map.toPublic('203.0.113.10')).toBeUndefined();
  });

  it('without mappings nothing is translated', () => {
    for (const m of [NO_ADDRESS_MAP, new AddressMap([{ public: '10.0.0.5', private: '10.0.0.5' }])]) {
      expect(m.size).toBe(0);
      expect(m.advertised('10.0.0.5')).toBe('10.0.0.5');
      expect(m.toPrivate('10.0.0.5')).toBe('10.0.0.5');
      expect(m.toPublic('10.0.0.5')).toBeUndefined();
    }
  });

  it('canonicalIp gives Node textual form and leaves what does not parse alone', () => {
    expect(canonicalIp('2001:0DB8:0:0:0:0:0:1')).toBe('2001:db8::1');
    expect(canonicalIp('::ffff:192.0.2.1')).toBe('::ffff:192.0.2.1');
    expect(canonicalIp('192.0.2.1')).toBe('192.0.2.1');
    expect(canonicalIp('not-an-ip')).toBe('not-an-ip');
  });
});

describe('heartbeat addresses (cluster-sync unicastAddresses) through the map', () => {
  it('advertise each unicast listener (a wildcard stands for the relay-ip) by its public address', () => {
    const listeners = [
      { protocol: 'udp' as const, role: 'unicast' as const, address: '0.0.0.0', port: 3478 },
      { protocol: 'tcp' as const, role: 'unicast' as const, address: 'fd00::5', port: 3478 },
      { protocol: 'udp' as const, role: 'anycast' as const, address: '198.18.0.1', port: 3478 },
    ];
    expect(unicastAddresses(listeners, ['10.0.0.5', '10.0.0.6'], map)).toEqual([
      { transport: 'udp', family: 4, address: '203.0.113.10', port: 3478 },
      { transport: 'udp', family: 4, address: '10.0.0.6', port: 3478 },
      { transport: 'tcp', family: 6, address: '2001:db8::10', port: 3478 },
    ]);
    expect(unicastAddresses(listeners, ['10.0.0.5'])[0].address).toBe('10.0.0.5'); // no map: as bound
  });
});
