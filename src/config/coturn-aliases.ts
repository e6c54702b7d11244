/**
 * coturn flag names `anyturn relay` accepts beside its own (`--listening-port 3478` = `--port 3478`): only those
 * that mean exactly one anyturn flag with the same value form.
 */
export const COTURN_FLAG_ALIASES: Readonly<Record<string, string>> = {
  'listening-port': 'port',
  'tls-listening-port': 'tls-port',
  'listening-ip': 'listen',
  'static-auth-secret': 'auth-secret',
  cert: 'tls-cert',
  pkey: 'tls-key',
  'denied-peer-ip': 'deny-peer',
  'allowed-peer-ip': 'allow-peer',
  'total-quota': 'capacity',
  'max-allocate-lifetime': 'lifetime-max',
  'stale-nonce': 'nonce-ttl',
};

/** argv with coturn's flag names replaced by anyturn's (`--listening-port=3478` -> `--port=3478`). */
export function withCoturnAliases(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const match = /^--([^=]+)(=.*)?$/.exec(arg);
    const alias = match ? COTURN_FLAG_ALIASES[match[1]] : undefined;
    out.push(alias === undefined ? arg : `--${alias}${match![2] ?? ''}`);
  }
  return out;
}
