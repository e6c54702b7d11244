/**
 * Builds the ioredis clients for a parsed `--redis` target with fail-fast settings:
 * no offline queue (a command while disconnected rejects at once), no per-request
 * retries, a command timeout (a partitioned server cannot hang a caller), and
 * reconnection forever with a capped back-off.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redis-url.js';

export type RedisClient = Redis | Cluster;

export interface RedisConnectionOptions {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Cap of the reconnect back-off. */
  reconnectMaxDelayMs: number;
}

export function createRedisClient(target: RedisTarget, opts: RedisConnectionOptions): RedisClient {
  const retryStrategy = (times: number): number => Math.min(50 * times, opts.reconnectMaxDelayMs);
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs,
    connectTimeout: opts.connectTimeoutMs,
    retryStrategy,
    // A sentinel/master that is gone must not stop the reconnect loop.
    reconnectOnError: () => false,
  };
  switch (target.kind) {
    case 'standalone':
      return new Redis(target.url, common);
    case 'unix':
      return new Redis({ ...common, path: target.path, db: target.db });
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: target.sentinels,
        name: target.name,
        db: target.db,
        username: target.username,
        password: target.password,
        sentinelPassword: target.sentinelPassword,
        sentinelRetryStrategy: retryStrategy,
        ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      });
    case 'cluster':
      return new Cluster(target.nodes, {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        redisOptions: {
          ...common,
          username: target.username,
          password: target.password,
          ...(target.tls ? { tls: {} } : {}),
        },
      });
  }
}
