/**
 * The Redis URLs `--redis` accepts (parsed once at the edge; AnyturnError
 * ATN_ERR_CONFIG_INVALID otherwise):
 *
 *   redis://[[user]:password@]host[:port][/db]        one server (ioredis parses it)
 *   rediss://...                                      the same over TLS
 *   unix:///path/to/redis.sock[?db=N]                 one server on a Unix socket
 *   redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db][?sentinelPassword=P]
 *   rediss+sentinel://...                             the same, TLS to sentinels and master
 *   redis+cluster://[[user]:password@]host[:port][,host[:port]...]
 *   rediss+cluster://...                              Redis Cluster over TLS
 *
 * (`redis-sentinel://` and `sentinel://` are accepted as aliases of `redis+sentinel://`.)
 * Default ports: 6379, sentinels 26379. IPv6 hosts in brackets: `[::1]:6379`.
 */
import { AnyturnError } from '../errors.js';

export interface RedisNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'standalone'; url: string }
  | { kind: 'unix'; path: string; db: number }
  | {
      kind: 'sentinel';
      sentinels: RedisNode[];
      name: string;
      db: number;
      username?: string;
      password?: string;
      sentinelPassword?: string;
      tls: boolean;
    }
  | { kind: 'cluster'; nodes: RedisNode[]; username?: string; password?: string; tls: boolean };

export function parseRedisUrl(url: string): RedisTarget {
  const m = /^([a-z+-]+):\/\/(.*)$/i.exec(url);
  if (m === null) throw bad(url, 'expected scheme://...');
  const scheme = m[1].toLowerCase();
  const rest = m[2];
  switch (scheme) {
    case 'redis':
    case 'rediss': {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw bad(url, 'not a URL');
      }
      if (parsed.hostname === '') throw bad(url, 'no host');
      const db = parsed.pathname.replace(/^\//, '');
      if (db !== '' && !/^\d+$/.test(db)) throw bad(url, `database must be a number, got '${db}'`);
      return { kind: 'standalone', url };
    }
    case 'unix': {
      const [path, query = ''] = rest.split('?', 2);
      if (!path.startsWith('/')) throw bad(url, 'expected unix:///absolute/path');
      const db = new URLSearchParams(query).get('db') ?? '0';
      if (!/^\d+$/.test(db)) throw bad(url, `db must be a number, got '${db}'`);
      return { kind: 'unix', path, db: Number(db) };
    }
    case 'redis+sentinel':
    case 'rediss+sentinel':
    case 'redis-sentinel':
    case 'sentinel': {
      const { auth, hosts, path, query } = split(url, rest);
      const [name, db = '0', ...extra] = path.split('/').filter((p) => p !== '');
      if (name === undefined) throw bad(url, 'the master name is missing (…/mymaster)');
      if (extra.length > 0 || !/^\d+$/.test(db)) throw bad(url, 'expected /master[/db]');
      const sentinelPassword = query.get('sentinelPassword') ?? undefined;
      return {
        kind: 'sentinel',
        sentinels: nodes(url, hosts, 26379),
        name: decodeURIComponent(name),
        db: Number(db),
        ...auth,
        ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
        tls: scheme.startsWith('rediss'),
      };
    }
    case 'redis+cluster':
    case 'rediss+cluster': {
      const { auth, hosts, path } = split(url, rest);
      if (path !== '' && path !== '/') throw bad(url, 'a cluster URL takes no path');
      return { kind: 'cluster', nodes: nodes(url, hosts, 6379), ...auth, tls: scheme.startsWith('rediss') };
    }
    default:
      throw bad(url, `unknown scheme '${scheme}'`);
  }
}

/** The URL with any password replaced by `***` (for logs and status output). */
export function redactRedisUrl(url: string): string {
  return url.replace(/^([a-z+-]+:\/\/)([^@/]*:)[^@/]*@/i, '$1$2***@').replace(/(sentinelPassword=)[^&]*/, '$1***');
}

function split(url: string, rest: string): {
  auth: { username?: string; password?: string };
  hosts: string;
  path: string;
  query: URLSearchParams;
} {
  const q = rest.indexOf('?');
  const query = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  const beforeQuery = q < 0 ? rest : rest.slice(0, q);
  const at = beforeQuery.lastIndexOf('@');
  const authText = at < 0 ? '' : beforeQuery.slice(0, at);
  const afterAuth = at < 0 ? beforeQuery : beforeQuery.slice(at + 1);
  const slash = afterAuth.indexOf('/');
  const hosts = slash < 0 ? afterAuth : afterAuth.slice(0, slash);
  const path = slash < 0 ? '' : afterAuth.slice(slash);
  if (hosts === '') throw bad(url, 'no host');
  const auth: { username?: string; password?: string } = {};
  if (authText !== '') {
    const colon = authText.indexOf(':');
    const user = colon < 0 ? authText : authText.slice(0, colon);
    if (user !== '') auth.username = decodeURIComponent(user);
    if (colon >= 0) auth.password = decodeURIComponent(authText.slice(colon + 1));
  }
  return { auth, hosts, path, query };
}

function nodes(url: string, hosts: string, defaultPort: number): RedisNode[] {
  return hosts.split(',').map((h) => {
    const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(h);
    if (m === null) throw bad(url, `bad host '${h}'`);
    const port = m[3] === undefined ? defaultPort : Number(m[3]);
    if (port < 1 || port > 65535) throw bad(url, `bad port in '${h}'`);
    return { host: m[1] ?? m[2], port };
  });
}

function bad(url: string, why: string): AnyturnError {
  return new AnyturnError('ATN_ERR_CONFIG_INVALID', `--redis '${redactRedisUrl(url)}': ${why}`);
}
