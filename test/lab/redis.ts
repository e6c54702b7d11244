/**
 * The lab's cluster store (`labUp({ redis: true })`): a real redis-server in its own
 * namespace `<prefix>redis`, hanging off the inet router (10.254.0.2/30, inet side
 * 10.254.0.1), so every relay and agent reaches it over the lab's network
 * (`redis://10.254.0.2:6379`, through the PoP router and inet). The same server also
 * listens on a Unix socket in the lab's state directory (`unix://…/redis.sock`): the
 * test process in the root namespace uses that (the filesystem is shared, the network
 * is not).
 */
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { addAddress, addVeth, sh, waitFor } from './netns.js';

export interface LabRedis {
  ns: string;
  address: string;
  port: number;
  /** What relays and agents use (`--redis`, `redis:` in the agent config). */
  url: string;
  /** Unix socket path, reachable from the root namespace. */
  socket: string;
  /** `unix://<socket>`: what the test process uses. */
  localUrl: string;
  /** The inet router's side of the link. */
  gateway: string;
  pidFile: string;
}

export function redisLayout(prefix: string, stateDir: string): LabRedis {
  const socket = join(stateDir, 'redis.sock');
  return {
    ns: `${prefix}redis`,
    address: '10.254.0.2',
    port: 6379,
    url: 'redis://10.254.0.2:6379',
    socket,
    localUrl: `unix://${socket}`,
    gateway: '10.254.0.1',
    pidFile: join(stateDir, 'redis.pid'),
  };
}

/** Links the redis namespace to inet (the namespace exists already) and starts redis-server (daemon). */
export async function startLabRedis(redis: LabRedis, inetNs: string, stateDir: string): Promise<void> {
  await addVeth({ ns: redis.ns, name: 'eth0' }, { ns: inetNs, name: 'redis' });
  await addAddress(redis.ns, 'eth0', `${redis.address}/30`);
  await addAddress(inetNs, 'redis', `${redis.gateway}/30`);
  await sh('ip', ['-n', redis.ns, 'route', 'add', 'default', 'via', redis.gateway]);
  await sh('redis-server', [
    '--bind', redis.address, '--port', String(redis.port), '--protected-mode', 'no',
    '--unixsocket', redis.socket, '--unixsocketperm', '700',
    '--save', '', '--appendonly', 'no', '--dir', stateDir,
    '--daemonize', 'yes', '--pidfile', redis.pidFile, '--logfile', join(stateDir, 'redis.log'),
  ], { ns: redis.ns });
  await waitFor('redis-server to answer PING', () => redisPing(redis), 10_000, 50);
}

/** PING over the Unix socket: true on +PONG. */
export function redisPing(redis: LabRedis): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const sock = createConnection({ path: redis.socket });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok || undefined);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}
