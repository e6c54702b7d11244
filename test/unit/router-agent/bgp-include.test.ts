import { describe, expect, it } from 'vitest';
import { bgpSymbols, MAX_PREPEND, normalizePrefix, renderBgpInclude } from '../../../router-agent/bgp-include.js';
import { parseShowProtocols } from '../../../router-agent/bird.js';

const opts = { prefixes: ['198.18.0.1/32'], prependAs: 65001 };

describe('renderBgpInclude', () => {
  it('announce: a static protocol with the blackhole route and an export function without prepends', () => {
    const text = renderBgpInclude(opts, { action: 'announce', prepend: 0 });
    expect(text).toContain('protocol static anyturn_anycast4 {\n  ipv4;\n  route 198.18.0.1/32 blackhole;\n}');
    expect(text).toContain('function anyturn_route()\n{\n  return proto = "anyturn_anycast4";\n}');
    expect(text).toContain('function anyturn_export()\n{\n  if !anyturn_route() then return false;\n  return true;\n}');
    expect(text).not.toContain('prepend(');
    expect(text).not.toContain('anycast6');
  });

  it('prepend N: N prepends of the AS, same protocols', () => {
    const text = renderBgpInclude(opts, { action: 'announce', prepend: 3 });
    expect(text.match(/bgp_path\.prepend\(65001\);/g)).toHaveLength(3);
    expect(text).toContain('route 198.18.0.1/32 blackhole;');
    expect(text).toContain('# state: announce prepend 3');
  });

  it('withdraw: the protocol stays, without routes and without prepends', () => {
    const text = renderBgpInclude(opts, { action: 'withdraw', prepend: 5 });
    expect(text).toContain('protocol static anyturn_anycast4 {\n  ipv4;\n}');
    expect(text).not.toContain('route 198');
    expect(text).not.toContain('prepend(');
    expect(text).toContain('# state: withdraw\n');
  });

  it('both families: one static protocol each; the functions cover both', () => {
    const text = renderBgpInclude(
      { prefixes: ['198.18.0.1', '2001:db8::1', '198.18.1.0/24'], prependAs: 4200000000, name: 'pop_a' },
      { action: 'announce', prepend: 1 },
    );
    expect(text).toContain('protocol static pop_a_anycast4 {\n  ipv4;\n  route 198.18.0.1/32 blackhole;\n  route 198.18.1.0/24 blackhole;\n}');
    expect(text).toContain('protocol static pop_a_anycast6 {\n  ipv6;\n  route 2001:db8::1/128 blackhole;\n}');
    expect(text).toContain('return proto = "pop_a_anycast4" || proto = "pop_a_anycast6";');
    expect(text).toContain('bgp_path.prepend(4200000000);');
    expect(text).toContain('function pop_a_export()');
  });

  it('caps the prepend count', () => {
    const text = renderBgpInclude(opts, { action: 'announce', prepend: 100 });
    expect(text.match(/prepend\(/g)).toHaveLength(MAX_PREPEND);
  });

  it('is deterministic (the driver compares texts)', () => {
    expect(renderBgpInclude(opts, { action: 'announce', prepend: 2 })).toBe(renderBgpInclude(opts, { action: 'announce', prepend: 2 }));
  });

  it('rejects what could break or inject into the BIRD config', () => {
    const bad = (o: Partial<typeof opts> & { name?: string }, prepend = 0) => () =>
      renderBgpInclude({ ...opts, ...o }, { action: 'announce', prepend });
    expect(bad({ prefixes: [] })).toThrow(expect.objectContaining({ code: 'ATN_ERR_CONFIG_INVALID' }));
    expect(bad({ prefixes: ['198.18.0.1/32 blackhole; } protocol x {'] })).toThrow(/prefix length/);
    expect(bad({ prefixes: ['198.18.0.1; }/32'] })).toThrow(/not an IP prefix/);
    expect(bad({ prefixes: ['198.18.0.1/33'] })).toThrow(/prefix length/);
    expect(bad({ prefixes: ['fe80::1%eth0/128'] })).toThrow(/not an IP prefix/);
    expect(bad({ prependAs: 0 })).toThrow(/AS/);
    expect(bad({ prependAs: 2 ** 32 })).toThrow(/AS/);
    expect(bad({ name: 'bad-name' })).toThrow(/symbol/);
    expect(bad({}, -1)).toThrow(/prepend/);
    expect(bad({}, 1.5)).toThrow(/prepend/);
  });
});

describe('normalizePrefix and bgpSymbols', () => {
  it('adds the host length to bare addresses', () => {
    expect(normalizePrefix('198.18.0.1')).toEqual({ family: 4, text: '198.18.0.1/32' });
    expect(normalizePrefix('2001:db8::/32')).toEqual({ family: 6, text: '2001:db8::/32' });
    expect(normalizePrefix('10.0.0.0/08')).toEqual({ family: 4, text: '10.0.0.0/8' });
  });

  it('names one protocol per family in use', () => {
    expect(bgpSymbols({ prefixes: ['2001:db8::1'] })).toEqual({
      protocols: { 6: 'anyturn_anycast6' },
      exportFunction: 'anyturn_export',
      routeFunction: 'anyturn_route',
    });
  });
});

describe('parseShowProtocols', () => {
  it('parses the default time format', () => {
    const text = [
      'Name       Proto      Table      State  Since         Info',
      'device1    Device     ---        up     00:22:20.979  ',
      's4         Static     master4    up     00:22:20.979  ',
      'b1         BGP        ---        start  00:22:20.979  Idle          ',
    ].join('\n');
    expect(parseShowProtocols(text)).toEqual([
      { name: 'device1', proto: 'Device', table: '---', state: 'up', since: '00:22:20.979', info: '' },
      { name: 's4', proto: 'Static', table: 'master4', state: 'up', since: '00:22:20.979', info: '' },
      { name: 'b1', proto: 'BGP', table: '---', state: 'start', since: '00:22:20.979', info: 'Idle' },
    ]);
  });

  it('parses `timeformat protocol iso long ms` (a space inside Since) and long names', () => {
    const text = [
      'BIRD 2.0.12 ready.',
      'Name       Proto      Table      State  Since         Info',
      'anyturn_anycast4 Static     master4    up     2026-11-22 00:14:16.901  ',
      'up         BGP        ---        up     2026-11-22 00:14:21.414  Established   ',
    ].join('\n');
    const rows = parseShowProtocols(text);
    expect(rows[0]).toMatchObject({ name: 'anyturn_anycast4', proto: 'Static', since: '2026-11-22 00:14:16.901', info: '' });
    expect(rows[1]).toMatchObject({ name: 'up', state: 'up', since: '2026-11-22 00:14:21.414', info: 'Established' });
  });
});
