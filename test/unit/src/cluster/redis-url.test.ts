import { describe, expect, it } from 'vitest';
import { parseRedisUrl, redactRedisUrl } from '../../../../src/cluster/redis-url.js';

describe('parseRedisUrl', () => {
  it('passes plain and TLS URLs to ioredis as they are', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ kind: 'standalone', url: 'redis://127.0.0.1:6379' });
    expect(parseRedisUrl('rediss://u:p@redis.example:6380/2')).toEqual({ kind: 'standalone', url: 'rediss://u:p@redis.example:6380/2' });
    expect(parseRedisUrl('redis://[::1]:6379')).toMatchObject({ kind: 'standalone' });
  });

  it('unix sockets', () => {
    expect(parseRedisUrl('unix:///run/redis/redis.sock')).toEqual({ kind: 'unix', path: '/run/redis/redis.sock', db: 0 });
    expect(parseRedisUrl('unix:///run/redis.sock?db=3')).toEqual({ kind: 'unix', path: '/run/redis.sock', db: 3 });
  });

  it('sentinel: several sentinels, master name, db, credentials', () => {
    expect(parseRedisUrl('redis+sentinel://:secret@10.0.0.1:26379,10.0.0.2,[2001:db8::3]:26380/mymaster/1?sentinelPassword=s%20p')).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: '2001:db8::3', port: 26380 },
      ],
      name: 'mymaster',
      db: 1,
      password: 'secret',
      sentinelPassword: 's p',
      tls: false,
    });
    expect(parseRedisUrl('rediss+sentinel://user:pw@s1/m')).toMatchObject({ kind: 'sentinel', username: 'user', password: 'pw', db: 0, tls: true });
    expect(parseRedisUrl('redis-sentinel://s1:1/m')).toMatchObject({ kind: 'sentinel', name: 'm' });
    expect(parseRedisUrl('sentinel://s1:1/m')).toMatchObject({ kind: 'sentinel' });
  });

  it('cluster', () => {
    expect(parseRedisUrl('redis+cluster://n1:7000,n2:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://:pw@n1')).toMatchObject({ nodes: [{ host: 'n1', port: 6379 }], password: 'pw', tls: true });
  });

  it('rejects what it does not understand, without echoing the password', () => {
    const bad = ['http://x', 'redis://', 'redis://h/abc', 'unix://relative', 'redis+sentinel://h1', 'redis+sentinel://h1/m/x', 'redis+cluster://h:99999', 'redis+cluster://h/x', 'nonsense'];
    for (const u of bad) expect(() => parseRedisUrl(u), u).toThrow(expect.objectContaining({ code: 'ATN_ERR_CONFIG_INVALID' }));
    expect(() => parseRedisUrl('redis+sentinel://:hunter2@h1')).toThrow(/\*\*\*/);
    expect(() => parseRedisUrl('redis+sentinel://:hunter2@h1')).not.toThrow(/hunter2/);
  });

  it('redacts passwords', () => {
    expect(redactRedisUrl('redis://user:pw@h:1/0')).toBe('redis://user:***@h:1/0');
    expect(redactRedisUrl('redis+sentinel://:pw@a,b/m?sentinelPassword=x')).toBe('redis+sentinel://:***@a,b/m?sentinelPassword=***');
    expect(redactRedisUrl('redis://h:1')).toBe('redis://h:1');
  });
});
