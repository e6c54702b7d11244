/**
 * `external-ip PUBLIC[/PRIVATE]` (coturn's 1:1 NAT mapping): parsed, resolved and checked once by the relay
 * schema; every refusal names the entry (`external-ip[i]: ...`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRelayConfig } from '../../../../src/config/schema.js';
import { configDir, invalid } from './fixtures.js';

const { dir } = configDir('anyturn-external-ip-', 'relay');

describe('external-ip', () => {
  it('is absent unless configured', () => {
    expect(loadRelayConfig([]).externalIp).toBeUndefined();
    expect('externalIp' in loadRelayConfig(['--listen', '10.0.0.5'])).toBe(false);
  });

  it('PUBLIC/PRIVATE maps a relay-ip or a listen address', () => {
    expect(loadRelayConfig(['--external-ip', '192.0.2.10/127.0.0.1']).externalIp).toEqual([{ public: '192.0.2.10', private: '127.0.0.1' }]);
    const c = loadRelayConfig([
      '--listen', '10.0.0.5', '--listen', 'fd00::5', '--relay-ip', '10.0.1.5', '--relay-ip', '10.0.1.6',
      '--external-ip', '203.0.113.5/10.0.0.5', '--external-ip', '203.0.113.6/10.0.1.6', '--external-ip', '2001:db8::5/fd00::5',
    ]);
    expect(c.externalIp).toEqual([
      { public: '203.0.113.5', private: '10.0.0.5' },
      { public: '203.0.113.6', private: '10.0.1.6' },
      { public: '2001:db8::5', private: 'fd00::5' },
    ]);
    expect(Object.isFrozen(c.externalIp![0])).toBe(true);
  });

  it('a bare PUBLIC maps the one relay-ip of its family', () => {
    expect(loadRelayConfig(['--listen', '10.0.0.5', '--external-ip', '203.0.113.5']).externalIp).toEqual([
      { public: '203.0.113.5', private: '10.0.0.5' },
    ]);
    const dual = loadRelayConfig(['--listen', '0.0.0.0', '--relay-ip', '10.0.0.5', '--relay-ip', 'fd00::5', '--external-ip', '2001:db8::5']);
    expect(dual.externalIp).toEqual([{ public: '2001:db8::5', private: 'fd00::5' }]);
  });

  it('IPv6 is compared and stored in one spelling', () => {
    const c = loadRelayConfig(['--listen', 'FD00:0:0::5', '--external-ip', '2001:DB8:0::5/fd00::5']);
    expect(c.externalIp).toEqual([{ public: '2001:db8::5', private: 'fd00::5' }]);
  });

  it('refuses malformed entries by index', () => {
    expect(invalid(['--external-ip', '192.0.2.10/127.0.0.1', '--external-ip', 'public'])).toBe(
      'external-ip[1]: must be PUBLIC or PUBLIC/PRIVATE (IP addresses, e.g. 203.0.113.10/10.0.0.5)',
    );
    expect(invalid(['--external-ip', '192.0.2.10/'])).toMatch(/^external-ip\[0\]: must be PUBLIC or PUBLIC\/PRIVATE/);
    expect(invalid(['--external-ip', '192.0.2.10/127.0.0.1/8'])).toMatch(/^external-ip\[0\]: must be PUBLIC or PUBLIC\/PRIVATE/);
    expect(invalid(['--external-ip', '0.0.0.0/127.0.0.1'])).toBe('external-ip[0]: must name specific addresses, not 0.0.0.0 or ::');
    expect(invalid(['--external-ip', '2001:db8::1/127.0.0.1'])).toBe('external-ip[0]: 2001:db8::1 and 127.0.0.1 are not of the same address family');
  });

  it('a bare PUBLIC needs exactly one relay-ip of its family', () => {
    expect(invalid(['--listen', '10.0.0.5', '--listen', '10.0.0.6', '--external-ip', '203.0.113.5'])).toBe(
      'external-ip[0]: 203.0.113.5 needs /PRIVATE: there are 2 IPv4 relay-ip addresses',
    );
    expect(invalid(['--external-ip', '2001:db8::5'])).toBe('external-ip[0]: 2001:db8::5 needs /PRIVATE: there is no IPv6 relay-ip');
  });

  it('PRIVATE must be one of ours, mapped once; PUBLIC advertised once and not itself one of ours', () => {
    expect(invalid(['--external-ip', '192.0.2.10/10.0.0.9'])).toBe('external-ip[0]: 10.0.0.9 is neither a relay-ip nor a listen address');
    const two = ['--listen', '10.0.0.5', '--listen', '10.0.0.6'];
    expect(invalid([...two, '--external-ip', '203.0.113.5/10.0.0.5', '--external-ip', '203.0.113.6/10.0.0.5'])).toBe(
      'external-ip[1]: 10.0.0.5 is already mapped by external-ip[0]',
    );
    expect(invalid([...two, '--external-ip', '203.0.113.5/10.0.0.5', '--external-ip', '203.0.113.5/10.0.0.6'])).toBe(
      'external-ip[1]: 203.0.113.5 is already advertised by external-ip[0]',
    );
    expect(invalid([...two, '--external-ip', '10.0.0.6/10.0.0.5'])).toBe('external-ip[0]: 10.0.0.6 is itself a relay-ip or listen address');
  });

  it('reads the YAML key (a single value or a list); a flag list replaces it', () => {
    const file = join(dir, 'relay.yaml');
    writeFileSync(file, 'listen: [10.0.0.5, 10.0.0.6]\nexternal-ip: [203.0.113.5/10.0.0.5, 203.0.113.6/10.0.0.6]\n');
    expect(loadRelayConfig(['--config', file]).externalIp).toEqual([
      { public: '203.0.113.5', private: '10.0.0.5' },
      { public: '203.0.113.6', private: '10.0.0.6' },
    ]);
    expect(loadRelayConfig(['--config', file, '--external-ip', '198.51.100.6/10.0.0.6']).externalIp).toEqual([
      { public: '198.51.100.6', private: '10.0.0.6' },
    ]);
    const single = join(dir, 'single.yaml');
    writeFileSync(single, 'listen: 10.0.0.5\nexternal-ip: 203.0.113.5\n');
    expect(loadRelayConfig(['--config', single]).externalIp).toEqual([{ public: '203.0.113.5', private: '10.0.0.5' }]);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'external-ip:\n  - 192.0.2.10/127.0.0.1\n  - 192.0.2.11/10.0.0.9\n');
    expect(invalid(['--config', bad])).toBe('external-ip[1]: 10.0.0.9 is neither a relay-ip nor a listen address');
  });

  it('the "Behind 1:1 NAT" example of docs/config.md loads', () => {
    const doc = readFileSync(new URL('../../../../docs/config.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Behind 1:1 NAT'));
    const example = /```yaml\n([\s\S]*?)```/.exec(section);
    expect(example).not.toBeNull();
    const file = join(dir, 'doc-nat.yaml');
    writeFileSync(file, example![1]);
    expect(loadRelayConfig(['--config', file]).externalIp).toEqual([{ public: '203.0.113.10', private: '10.0.0.5' }]);
  });
});
