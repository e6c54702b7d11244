/**
 * What a reload (SIGHUP, POST /reload) may change in a running relay: the TLS certificate and key (the same
 * paths, read again), the static users, the configured REST secrets and the admin token. Everything else is
 * bound to sockets or to state (addresses, ports, ids, capacity, the store, TLS turned on or off via tls-port...):
 * a changed value there is reported as needing a restart and left as it is. Live allocations are never touched.
 */
import type { RelayConfig } from '../src/config/schema.js';

export const RELOADABLE_KEYS = ['user', 'authSecret', 'tlsCert', 'tlsKey', 'adminToken'] as const satisfies readonly (keyof RelayConfig)[];

export interface ReloadResult {
  /** What was applied (in the user's spelling): `tls-cert`, `user`, `auth-secret`, `admin-token`. */
  reloaded: string[];
  /** Keys whose new value needs a restart; their old value stays in force. */
  restartNeeded: string[];
  users: number;
  authSecrets: number;
}

const KEBAB: Record<string, string> = { authSecret: 'auth-secret', tlsCert: 'tls-cert', tlsKey: 'tls-key', adminToken: 'admin-token' };

/** The keys (kebab-case) outside RELOADABLE_KEYS whose value differs between two configs. */
export function keysNeedingRestart(current: RelayConfig, next: RelayConfig): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(current), ...Object.keys(next)] as (keyof RelayConfig)[]);
  for (const key of keys) {
    if ((RELOADABLE_KEYS as readonly string[]).includes(key) || key === 'nonceKeyGiven') continue;
    // Without nonce-key every load draws a random key: only a configured key counts as a change.
    if (key === 'nonceKey' && current.nonceKeyGiven !== true && next.nonceKeyGiven !== true) continue;
    if (!sameValue(current[key], next[key])) out.push(kebab(key));
  }
  return out.sort();
}

export function kebab(key: string): string {
  return KEBAB[key] ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a, bufferAsHex) === JSON.stringify(b, bufferAsHex);
}

function bufferAsHex(_key: string, value: unknown): unknown {
  return value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' ? `buffer:${String((value as { data: number[] }).data)}` : value;
}
