import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentConfigSchema, loadAgentCommand } from '../../../src/config/agent-schema.js';
import { AnyturnError } from '../../../src/errors.js';

const base = {
  pop: 'pop1',
  'lan-interface': 'lan',
  'broadcast-next-hop': '10.9.9.254',
  anycast: '198.18.0.1',
  relays: [{ id: 'r1', address: '10.9.9.11' }],
};

function issues(input: Record<string, unknown>): string[] {
  const r = AgentConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('agent config schema', () => {
  it('fills in the defaults', () => {
    const c = AgentConfigSchema.parse(base);
    expect(c).toMatchObject({
      anycast: ['198.18.0.1'], udpPorts: [3478], tcpPorts: [3478], tlsPorts: [5349], table: 100, rulePriority: 100,
      protocol: 250, nexthopIdFirst: 1000, nexthopIdLast: 1999, buckets: 128, reconcileInterval: 5000, watchNetlink: true,
      healthCheck: true, healthInterval: 1000, healthTimeout: 500, healthFailures: 3, healthRise: 1, metrics: undefined,
      logLevel: 'info',
    });
    expect(c.relays).toEqual([{ id: 'r1', address: '10.9.9.11', address6: undefined, port: 3478 }]);
  });

  it('refuses what would break the kernel mapping or the ownership marks', () => {
    expect(issues({ ...base, table: 254 })).toEqual(['table: must not be a system table (253 default, 254 main, 255 local)']);
    expect(issues({ ...base, 'rule-priority': 32766 })).toHaveLength(1);
    expect(issues({ ...base, anycast: ['198.18.0.1', '2001:db8::1'] })).toEqual(['broadcast-next-hop6: is required when an anycast address is IPv6']);
    expect(issues({ ...base, relays: [{ id: 'r1', address: '10.9.9.11' }, { id: 'r1', address: '10.9.9.12' }] }))
      .toEqual(["relays.1.id: duplicate relay id 'r1'"]);
    expect(issues({ ...base, relays: [{ id: 'r1', address: '10.9.9.254' }] })).toEqual(['relays.0.address: must differ from the broadcast next hop']);
    expect(issues({ ...base, 'nexthop-id-first': 10, 'nexthop-id-last': 12 })).toEqual(['nexthop-id-last: the range needs at least 4 ids for 1 relays']);
    expect(issues({ ...base, 'health-timeout': 2000 })).toEqual(['health-timeout: must be <= health-interval']);
    expect(issues({ ...base, 'lan-interface': 'a-very-long-interface' })).toHaveLength(1);
    expect(issues({ ...base, 'broadcast-next-hop': 'fd00::1' })).toEqual(['broadcast-next-hop: must be an IPv4 address']);
    expect(issues({ ...base, tabel: 5 })).toHaveLength(1);
  });
});

describe('loadAgentCommand', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atn-agent-schema-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'agent.yaml');
  writeFileSync(file, 'pop: pop1\nlan-interface: lan\nbroadcast-next-hop: 10.9.9.254\nanycast: [198.18.0.1]\nrelays:\n  - { id: r1, address: 10.9.9.11 }\n');

  it('reads the file, applies flags and picks the action', () => {
    expect(loadAgentCommand(['--config', file]).action).toBe('run');
    expect(loadAgentCommand(['--config', file, '--once']).action).toBe('once');
    const t = loadAgentCommand(['--config', file, '--teardown', '--log-level', 'warn', '--metrics', '127.0.0.1:9101']);
    expect(t.action).toBe('teardown');
    expect(t.config.logLevel).toBe('warn');
    expect(t.config.metrics).toEqual({ address: '127.0.0.1', port: 9101 });
    expect(Object.isFrozen(t.config.relays[0])).toBe(true);
  });

  it('accepts the shipped example (router-agent/agent.example.yaml)', () => {
    const example = fileURLToPath(new URL('../../../router-agent/agent.example.yaml', import.meta.url));
    const { config } = loadAgentCommand(['--config', example]);
    expect(config.pop).toBe('fra1');
    expect(config.relays.map((r) => r.id)).toEqual(['fra1-r1', 'fra1-r2']);
    expect(config.healthFailures).toBe(3);
  });

  it('fails with a stable code on bad usage', () => {
    const code = (argv: string[]) => {
      try {
        loadAgentCommand(argv);
        return 'ok';
      } catch (err) {
        return err instanceof AnyturnError ? err.code : String(err);
      }
    };
    expect(code([])).toBe('ATN_ERR_CLI_USAGE');
    expect(code(['--config', file, '--once', '--teardown'])).toBe('ATN_ERR_CLI_USAGE');
    expect(code(['--config', join(dir, 'missing.yaml')])).toBe('ATN_ERR_CONFIG_FILE');
    expect(code(['--config', file, '--log-level', 'loud'])).toBe('ATN_ERR_CONFIG_INVALID');
  });
});
