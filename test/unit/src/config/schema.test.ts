import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RELAY_FLAGS, RELAY_USAGE, RelayFileSchema, loadRelayConfig, type RelayConfig } from '../../../../src/config/schema.js';
import { AnyturnError } from '../../../../src/errors.js';
import { configDir, invalid } from './fixtures.js';

const { dir, yamlFile } = configDir('anyturn-schema-', 'relay');
const KEY = '00112233445566778899aabbccddeeff';

describe('relay config defaults', () => {
  it('are the documented ones', () => {
    const c = loadRelayConfig([]);
    const { nonceKey, id, ...rest } = c;
    expect(rest).toEqual({
      listen: ['127.0.0.1'], port: 3478, tcp: true, tlsPort: undefined, tlsCert: undefined, tlsKey: undefined,
      relayIp: ['127.0.0.1'], minPort: 49152, maxPort: 65535, realm: 'anyturn', user: [], authSecret: [],
      capacity: 10000, metrics: undefined, adminToken: undefined, pop: 'default', allowPeer: [], denyPeer: [], anycast: [],
      redirect: 'strict', race: 'race', redis: undefined, userQuota: 0, channelQuota: 1000, userChannelQuota: 0, memoryBudget: 0, maxBps: 0, linkCapacity: 125_000_000,
      raceMaxDelay: 100, raceCurve: 'linear', raceGroup: { address: '239.255.34.78', port: 34780 }, raceStep: 50, anycastRate: 10, anycastBudget: 2048, udpBuffer: 4194304, offload: 'auto', udpIo: 'auto',
      streamMaxConnections: 0, streamMaxPerSource: 256, streamBufferBudget: 67108864, streamRequestTimeout: 10000, logLevel: 'info', software: 'anyturn',
      lifetimeMax: 3600, nonceTtl: 600,
      overlay: [], overlayDuplicate: [],
      popDistance: [], standby: false, standbyThreshold: 0.8, standbyHysteresis: 0.2,
      egress: [], uplink: [],
    } satisfies Omit<RelayConfig, 'nonceKey' | 'id'>);
    expect(id).toBe(hostname().split('.')[0].replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63) || 'relay');
    expect(nonceKey.length).toBe(32);
    expect(loadRelayConfig([]).nonceKey.equals(nonceKey)).toBe(false); // random each time
  });

  it('result is deep-frozen', () => {
    const c = loadRelayConfig(['--user', 'a:b', '--metrics', '127.0.0.1:9100']);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.listen)).toBe(true);
    expect(Object.isFrozen(c.user[0])).toBe(true);
    expect(Object.isFrozen(c.metrics)).toBe(true);
    expect(() => ((c as { port: number }).port = 1)).toThrow(TypeError);
  });
});

describe('relay flags', () => {
  it('every contract flag parses into its camelCase field', () => {
    const c = loadRelayConfig([
      '--listen', '10.1.0.2', '--listen', 'fd00::2', '--port', '13478', '--no-tcp',
      '--tls-port', '15349', '--tls-cert', '/etc/c.pem', '--tls-key', '/etc/k.pem',
      '--relay-ip', '10.1.0.2', '--min-port', '40000', '--max-port', '40100', '--realm', 'example.org',
      '--user', 'alice:pa:ss', '--user', 'bob:x', '--auth-secret', 's1', '--auth-secret', 's2',
      '--capacity', '1000', '--metrics', '[::1]:9100', '--id', 'relay-1', '--pop', 'fra1',
      '--allow-peer', '10.9.0.0/16', '--deny-peer', '192.0.2.7', '--anycast', '192.0.2.1', '--anycast', '2001:db8::1',
      '--redirect', 'fast', '--race', 'single', '--redis', 'redis://10.0.0.9:6379/0', '--user-quota', '5',
      '--max-bps', '100000', '--link-capacity', '1000000', '--race-max-delay', '80', '--race-curve', 'quadratic',
      '--race-group', '239.1.2.3:4000', '--race-step', '30', '--anycast-rate', '2.5', '--log-level', 'debug', '--software', '', '--lifetime-max', '1200',
      '--nonce-ttl', '30', '--nonce-key', '00112233445566778899aabbccddeeff',
    ]);
    expect(c).toMatchObject({
      listen: ['10.1.0.2', 'fd00::2'], port: 13478, tcp: false, tlsPort: 15349, tlsCert: '/etc/c.pem', tlsKey: '/etc/k.pem',
      relayIp: ['10.1.0.2'], minPort: 40000, maxPort: 40100, realm: 'example.org',
      user: [{ name: 'alice', password: 'pa:ss' }, { name: 'bob', password: 'x' }], authSecret: ['s1', 's2'],
      capacity: 1000, metrics: { address: '::1', port: 9100 }, id: 'relay-1', pop: 'fra1',
      allowPeer: ['10.9.0.0/16'], denyPeer: ['192.0.2.7/32'], anycast: ['192.0.2.1', '2001:db8::1'],
      redirect: 'fast', race: 'single', redis: 'redis://10.0.0.9:6379/0', userQuota: 5, maxBps: 100000,
      linkCapacity: 1_000_000, raceMaxDelay: 80, raceCurve: 'quadratic', raceGroup: { address: '239.1.2.3', port: 4000 },
      raceStep: 30, anycastRate: 2.5, logLevel: 'debug',
      software: '', lifetimeMax: 1200, nonceTtl: 30,
    });
    expect(c.nonceKey.toString('hex')).toBe('00112233445566778899aabbccddeeff');
  });

  it('flag names and YAML keys are the same set (plus --config)', () => {
    const yamlKeys = Object.keys(RelayFileSchema.shape).sort();
    const flagKeys = Object.keys(RELAY_FLAGS).filter((k) => k !== 'config').sort();
    expect(flagKeys).toEqual(yamlKeys);
    for (const k of flagKeys) expect(RELAY_USAGE).toContain(`--${k}`);
  });

  it('unknown flag is a usage error', () => {
    expect(() => loadRelayConfig(['--lisen', '10.0.0.1'])).toThrow(/unknown flag --lisen \(did you mean --listen\?\)/);
    expect(() => loadRelayConfig(['--help'])).toThrow(/usage: anyturn relay/);
  });

  it('TLS: default port 5349 only with both cert and key', () => {
    expect(loadRelayConfig(['--tls-cert', 'c', '--tls-key', 'k']).tlsPort).toBe(5349);
    expect(invalid(['--tls-cert', 'c'])).toBe('tls-key: is required when tls-cert is given');
    expect(invalid(['--tls-key', 'k'])).toBe('tls-cert: is required when tls-key is given');
    expect(invalid(['--tls-port', '5349'])).toBe('tls-port: needs tls-cert and tls-key');
    expect(invalid(['--tls-cert', 'c', '--tls-key', 'k', '--port', '5349'])).toContain('tls-port: must differ from port');
    expect(loadRelayConfig(['--tls-cert', 'c', '--tls-key', 'k', '--port', '5349', '--no-tcp']).tlsPort).toBe(5349);
  });

  it('relay-ip defaults to specific listen addresses and is required with a wildcard', () => {
    expect(loadRelayConfig(['--listen', '10.0.0.1', '--listen', '::1']).relayIp).toEqual(['10.0.0.1', '::1']);
    expect(invalid(['--listen', '0.0.0.0'])).toMatch(/^relay-ip: is required when listen is 0\.0\.0\.0 or ::/);
    expect(invalid(['--listen', '::'])).toMatch(/^relay-ip: is required/);
    expect(loadRelayConfig(['--listen', '0.0.0.0', '--relay-ip', '10.0.0.1']).relayIp).toEqual(['10.0.0.1']);
    expect(invalid(['--listen', '0.0.0.0', '--relay-ip', '0.0.0.0'])).toBe('relay-ip[0]: must be a specific address, not 0.0.0.0 or ::');
  });

  it('ports are 1-65535 and max-port >= min-port', () => {
    expect(invalid(['--port', '0'])).toBe('port: must be >= 1, got 0');
    expect(invalid(['--port', '65536'])).toBe('port: must be <= 65535, got 65536');
    expect(invalid(['--port', '3478.5'])).toBe('port: must be a whole number, got 3478.5');
    expect(invalid(['--min-port', '50000', '--max-port', '40000'])).toBe('max-port: must be >= min-port');
    expect(loadRelayConfig(['--min-port', '50000', '--max-port', '50000']).maxPort).toBe(50000);
    expect(invalid(['--metrics', '127.0.0.1:0'])).toContain('metrics: must be IP:PORT');
  });

  it('validates addresses, CIDRs, users and metrics', () => {
    expect(invalid(['--listen', '10.0.0.1', '--listen', 'localhost'])).toBe('listen[1]: not an IP address');
    expect(invalid(['--listen', '10.0.0.1', '--listen', '10.0.0.1'])).toBe('listen[1]: duplicate address 10.0.0.1');
    expect(invalid(['--relay-ip', '10.0.0.300'])).toBe('relay-ip[0]: not an IP address');
    expect(invalid(['--anycast', 'G', '--nonce-key', KEY])).toBe('anycast[0]: not an IP address');
    expect(invalid(['--anycast', '127.0.0.1', '--nonce-key', KEY])).toBe('anycast[0]: 127.0.0.1 is also a listen address');
    expect(invalid(['--allow-peer', '10.0.0.0/8', '--allow-peer', '10.0.0.0/33'])).toMatch(/^allow-peer\[1\]: not a CIDR block/);
    expect(invalid(['--deny-peer', 'fc00::/129'])).toMatch(/^deny-peer\[0\]: not a CIDR block/);
    expect(invalid(['--deny-peer', '10.0.0.0/x'])).toMatch(/^deny-peer\[0\]: not a CIDR block/);
    expect(loadRelayConfig(['--deny-peer', 'fc00::/7', '--deny-peer', '::1']).denyPeer).toEqual(['fc00::/7', '::1/128']);
    expect(invalid(['--user', 'alice'])).toBe('user[0]: must be NAME:PASS (both non-empty)');
    expect(invalid(['--user', ':pw'])).toBe('user[0]: must be NAME:PASS (both non-empty)');
    expect(invalid(['--user', 'a:'])).toBe('user[0]: must be NAME:PASS (both non-empty)');
    expect(invalid(['--user', 'a:1', '--user', 'a:2'])).toBe("user[1]: duplicate user 'a'");
    expect(loadRelayConfig(['--metrics', '0.0.0.0:9100']).metrics).toEqual({ address: '0.0.0.0', port: 9100 });
    for (const bad of ['9100', 'localhost:9100', '::1:9100', '[10.0.0.1]:9100', '[::1]', '1.2.3.4:', '1.2.3.4:99999']) {
      expect(invalid(['--metrics', bad])).toContain('metrics: must be IP:PORT or [IPv6]:PORT');
    }
  });

  it('validates names, enums, numbers and keys', () => {
    expect(invalid(['--realm', ''])).toBe('realm: must not be empty');
    expect(invalid(['--id', 'relay 1'])).toMatch(/^id: must be 1-63 characters/);
    expect(invalid(['--pop', ''])).toMatch(/^pop: must be 1-63 characters/);
    expect(invalid(['--redirect', 'slow'])).toBe("redirect: must be one of strict, fast, got 'slow'");
    expect(invalid(['--race', 'x'])).toBe("race: must be one of race, single, got 'x'");
    expect(invalid(['--race-curve', 'cubic'])).toBe("race-curve: must be one of linear, quadratic, got 'cubic'");
    expect(invalid(['--race-group', '10.0.0.1:4000'])).toMatch(/^race-group: .*multicast/);
    expect(invalid(['--race-step', '0'])).toMatch(/^race-step: /);
    expect(loadRelayConfig(['--race-group', 'off']).raceGroup).toBeUndefined();
    expect(invalid(['--log-level', 'loud'])).toMatch(/^log-level: must be one of fatal, error, warn, info/);
    expect(invalid(['--capacity', '0'])).toBe('capacity: must be >= 1, got 0');
    expect(invalid(['--user-quota', '-1'])).toBe('user-quota: must be >= 0, got -1');
    expect(invalid(['--max-bps', '-1'])).toBe('max-bps: must be >= 0, got -1');
    expect(invalid(['--link-capacity', '0'])).toBe('link-capacity: must be >= 1, got 0');
    expect(invalid(['--race-max-delay', '-5'])).toBe('race-max-delay: must be >= 0, got -5');
    expect(invalid(['--anycast-rate', '0'])).toBe('anycast-rate: must be > 0, got 0');
    expect(invalid(['--anycast-budget', '-1'])).toMatch(/^anycast-budget: /);
    expect(invalid(['--lifetime-max', '0'])).toBe('lifetime-max: must be >= 1, got 0');
    expect(invalid(['--nonce-ttl', '0'])).toBe('nonce-ttl: must be >= 1, got 0');
    expect(invalid(['--software', 'x'.repeat(128)])).toBe('software: must be at most 127 characters');
    expect(invalid(['--auth-secret', ''])).toBe('auth-secret[0]: must not be empty');
    expect(invalid(['--nonce-key', 'abc'])).toBe('nonce-key: must be hex, at least 16 bytes (32 hex digits)');
    expect(invalid(['--nonce-key', 'zz'.repeat(16)])).toContain('nonce-key: must be hex');
    expect(invalid(['--redis', 'http://x'])).toBe(
      'redis: must be a cluster store URL (redis://, rediss://, unix://, redis+sentinel://, redis+cluster://)',
    );
    expect(loadRelayConfig(['--redis', 'unix:///run/redis.sock']).redis).toBe('unix:///run/redis.sock');
    expect(loadRelayConfig(['--redis', 'redis+sentinel://s1,s2:26380/mymaster']).redis).toBe('redis+sentinel://s1,s2:26380/mymaster');
    expect(loadRelayConfig(['--redis', 'rediss://:pw@h:6380']).redis).toBe('rediss://:pw@h:6380');
  });
});

describe('relay config file', () => {
  it('reads every key from YAML, and flags override it', () => {
    const file = yamlFile(
      [
        'listen: [10.2.0.1, 10.2.0.2]', 'port: 3479', 'realm: file.example', 'user:', '  - alice:one', '  - bob:two',
        'capacity: 50', 'metrics: "127.0.0.1:9200"', 'anycast: 192.0.2.10', 'tcp: false', 'pop: ams', `nonce-key: "${KEY}"`,
      ].join('\n'),
    );
    const fromFile = loadRelayConfig(['--config', file]);
    expect(fromFile).toMatchObject({
      listen: ['10.2.0.1', '10.2.0.2'], port: 3479, realm: 'file.example', capacity: 50, tcp: false, pop: 'ams',
      user: [{ name: 'alice', password: 'one' }, { name: 'bob', password: 'two' }],
      metrics: { address: '127.0.0.1', port: 9200 }, anycast: ['192.0.2.10'], relayIp: ['10.2.0.1', '10.2.0.2'],
    });
    const c = loadRelayConfig(['--config', file, '--port', '4000', '--user', 'carol:three', '--tcp', '--listen', '10.3.0.1']);
    expect(c).toMatchObject({ port: 4000, realm: 'file.example', capacity: 50, tcp: true, listen: ['10.3.0.1'], relayIp: ['10.3.0.1'] });
    expect(c.user).toEqual([{ name: 'carol', password: 'three' }]); // a repeatable flag replaces the file's list
  });

  it('rejects unknown YAML keys by name', () => {
    const msg = invalid(['--config', yamlFile('lisen: [10.0.0.1]\nport: 3478\n')]);
    expect(msg).toBe('lisen: unknown key (did you mean listen?)');
    expect(invalid(['--config', yamlFile('config: other.yaml\n')])).toBe('config: unknown key');
    expect(invalid(['--config', yamlFile('relayIp: [10.0.0.1]\n')])).toMatch(/^relayIp: unknown key/);
  });

  it('names the key and the reason for a bad file value', () => {
    expect(invalid(['--config', yamlFile('listen:\n  - 10.0.0.1\n  - not-an-ip\n')])).toBe('listen[1]: not an IP address');
    expect(invalid(['--config', yamlFile('port: "3478"\n')])).toBe("port: must be a number, got a string ('3478')");
    expect(invalid(['--config', yamlFile('min-port: 60000\nmax-port: 50000\n')])).toBe('max-port: must be >= min-port');
    expect(invalid(['--config', yamlFile('listen: []\n')])).toBe('listen: needs at least 1 entry');
    expect(invalid(['--config', yamlFile('user: { alice: x }\n')])).toBe('user: must be a list, got a mapping');
    // a file error is fixed by a flag
    expect(loadRelayConfig(['--config', yamlFile('port: 0\n'), '--port', '3478']).port).toBe(3478);
  });

  it('a missing or broken file is ATN_ERR_CONFIG_FILE naming the path', () => {
    const missing = join(dir, 'nope.yaml');
    expect(() => loadRelayConfig(['--config', missing])).toThrow(`${missing}: no such file`);
    const broken = yamlFile('listen: [10.0.0.1\n');
    try {
      loadRelayConfig(['--config', broken]);
      throw new Error('expected an error');
    } catch (err) {
      expect((err as AnyturnError).code).toBe('ATN_ERR_CONFIG_FILE');
      expect((err as AnyturnError).message.startsWith(`${broken}: line`)).toBe(true);
    }
  });
});

describe('docs/config.md', () => {
  const doc = readFileSync(new URL('../../../../docs/config.md', import.meta.url), 'utf8');
  it('documents every key in its table', () => {
    for (const key of Object.keys(RELAY_FLAGS)) expect(doc, key).toMatch(new RegExp(`^\\| \`${key}\` \\|`, 'm'));
  });

  it('its YAML example loads', () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(doc);
    expect(example).not.toBeNull();
    const c = loadRelayConfig(['--config', yamlFile(example![1]), '--tls-cert', 'c.pem', '--tls-key', 'k.pem']);
    expect(c.listen.length).toBeGreaterThan(0);
  });
});

describe('offload', () => {
  it('takes auto|on|off and refuses on with a bandwidth cap', () => {
    expect(loadRelayConfig(['--offload', 'off']).offload).toBe('off');
    expect(loadRelayConfig(['--offload', 'on']).offload).toBe('on');
    expect(() => loadRelayConfig(['--offload', 'fast'])).toThrow(/offload: must be one of auto, on, off/);
    expect(() => loadRelayConfig(['--offload', 'on', '--max-bps', '1000'])).toThrow(/offload: on cannot be combined with max-bps/);
    expect(loadRelayConfig(['--max-bps', '1000']).offload).toBe('auto');
  });
});
