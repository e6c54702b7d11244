/** The agent config's BGP part: `bgp:`, `redis`, `agent-id`, `announce-interval`. */
import { describe, expect, it } from 'vitest';
import { AgentConfigSchema } from '../../../src/config/agent-schema.js';

const base = {
  pop: 'pop1',
  'lan-interface': 'lan',
  'broadcast-next-hop': '10.9.9.254',
  'broadcast-next-hop6': 'fd00:9:1::fe',
  anycast: ['198.18.0.1', '2001:2::1'],
  relays: [{ id: 'r1', address: '10.9.9.11' }],
};
const bgp = { 'birdctl-socket': '/run/bird/bird.ctl', 'include-file': '/etc/bird/anyturn.conf', 'prepend-as': 65001 };

function issues(input: Record<string, unknown>): string[] {
  const r = AgentConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('agent config: bgp', () => {
  it('is off by default; announce-interval and agent-id have defaults', () => {
    const c = AgentConfigSchema.parse(base);
    expect(c.bgp).toBeUndefined();
    expect(c.redis).toBeUndefined();
    expect(c.announceInterval).toBe(5000);
    expect(c.agentId).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
  });

  it('fills in prefixes (host routes of the anycast addresses), steps and hysteresis', () => {
    const c = AgentConfigSchema.parse({ ...base, bgp, redis: 'redis://10.254.0.2:6379', 'agent-id': 'pop1-rtr', 'announce-interval': 500 });
    expect(c.bgp).toEqual({
      birdctlSocket: '/run/bird/bird.ctl',
      includeFile: '/etc/bird/anyturn.conf',
      prependAs: 65001,
      prefixes: ['198.18.0.1/32', '2001:2::1/128'],
      symbolPrefix: 'anyturn',
      birdc: 'birdc',
      steps: [{ load: 0.6, prepend: 1 }, { load: 0.8, prepend: 3 }],
      hysteresis: 0.05,
    });
    expect(c).toMatchObject({ redis: 'redis://10.254.0.2:6379', agentId: 'pop1-rtr', announceInterval: 500 });
  });

  it('takes explicit prefixes, steps and a unix:// store', () => {
    const c = AgentConfigSchema.parse({
      ...base,
      bgp: { ...bgp, prefixes: ['198.18.0.0/24', '2001:2::/48'], steps: [{ load: 0.5, prepend: 2 }], hysteresis: 0 },
      redis: 'unix:///run/redis/redis.sock',
    });
    expect(c.bgp).toMatchObject({ prefixes: ['198.18.0.0/24', '2001:2::/48'], steps: [{ load: 0.5, prepend: 2 }], hysteresis: 0 });
  });

  it('refuses what BIRD or the policy could not use', () => {
    expect(issues({ ...base, bgp: { ...bgp, prefixes: ['198.18.0.1/24', '2001:2::/48'] } }))
      .toEqual(['bgp.prefixes.0: 198.18.0.1/24 has host bits set (BIRD refuses it)']);
    expect(issues({ ...base, bgp: { ...bgp, prefixes: ['198.18.0.0/24', '2001:2::1/48'] } }))
      .toEqual(['bgp.prefixes.1: 2001:2::1/48 has host bits set (BIRD refuses it)']);
    expect(issues({ ...base, bgp: { ...bgp, prefixes: ['198.18.0.0/24', '::ffff:198.18.0.0/120', '2001:2::/48'] } })).toEqual([]);
    expect(issues({ ...base, bgp: { ...bgp, prefixes: ['198.19.0.0/24', '2001:2::/48'] } }))
      .toEqual(['anycast.0: 198.18.0.1 is in none of bgp.prefixes: announcing them would not bring its traffic here']);
    expect(issues({ ...base, bgp: { ...bgp, prefixes: ['198.18.0.0/24', '2001:2::1:0/112'] } }))
      .toEqual(['anycast.1: 2001:2::1 is in none of bgp.prefixes: announcing them would not bring its traffic here']);
    expect(issues({ ...base, bgp: { ...bgp, 'include-file': 'relative.conf' } })).toHaveLength(1);
    expect(issues({ ...base, bgp: { ...bgp, 'include-file': '/etc/bird/a"b.conf' } })).toHaveLength(1);
    expect(issues({ ...base, bgp: { ...bgp, 'include-file': '/run/bird/bird.ctl' } })).toEqual(['bgp.include-file: must differ from birdctl-socket']);
    expect(issues({ ...base, bgp: { ...bgp, 'prepend-as': 0 } })).toHaveLength(1);
    expect(issues({ ...base, bgp: { ...bgp, steps: [{ load: 1.5, prepend: 1 }] } })).toHaveLength(1);
    expect(issues({ ...base, bgp: { ...bgp, steps: [{ load: 0.5, prepend: 17 }] } })).toHaveLength(1);
    expect(issues({ ...base, bgp: { ...bgp, 'symbol-prefix': 'any-turn' } })).toHaveLength(1);
    expect(issues({ ...base, bgp: { ...bgp, prepnd: 1 } })).toEqual(['bgp: Unrecognized key: "prepnd"']);
    expect(issues({ ...base, redis: 'http://x' })).toHaveLength(1);
    expect(issues({ ...base, 'announce-interval': 10 })).toHaveLength(1);
  });
});

describe('agent.example.yaml', () => {
  it('has a valid bgp section', async () => {
    const { loadAgentCommand } = await import('../../../src/config/agent-schema.js');
    const example = new URL('../../../router-agent/agent.example.yaml', import.meta.url).pathname;
    const { config } = loadAgentCommand(['--config', example]);
    expect(config.bgp).toMatchObject({ prependAs: 65001, includeFile: '/etc/bird/anyturn.conf', prefixes: ['198.18.0.1/32'] });
    expect(config.announceInterval).toBe(5000);
  });
});

describe('anyturn agent --redis', () => {
  it('overrides the file', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadAgentCommand } = await import('../../../src/config/agent-schema.js');
    const dir = mkdtempSync(join(tmpdir(), 'atng-schema-'));
    try {
      const file = join(dir, 'agent.yaml');
      writeFileSync(file, 'pop: p\nlan-interface: lan\nbroadcast-next-hop: 10.9.9.254\nanycast: [198.18.0.1]\nrelays: [{ id: r1, address: 10.9.9.11 }]\nredis: redis://a:6379\n');
      expect(loadAgentCommand(['--config', file]).config.redis).toBe('redis://a:6379');
      expect(loadAgentCommand(['--config', file, '--redis', 'unix:///run/r.sock']).config.redis).toBe('unix:///run/r.sock');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
