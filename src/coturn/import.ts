import { stringify as toYaml } from 'yaml';
import { describeIssue } from '../config/load.js';
import { RelayConfigSchema } from '../config/schema.js';
import { AnyturnError } from '../errors.js';
import { COTURN_OPTIONS } from './coturn-options.js';
import type { ConfOption } from './turnserver-conf.js';

/**
 * turnserver.conf options -> an anyturn relay YAML (keys as in docs/config.md). Every option either lands in a
 * key or is listed as not imported with the reason (implied by anyturn, unsupported, ignored by coturn itself,
 * overridden, unknown). The result is validated by the relay's own schema before it is printed.
 */
export interface NotImported {
  option: ConfOption;
  reason: string;
}

export interface CoturnImport {
  /** anyturn relay keys (kebab-case), in the order coturn's options first set them. */
  config: Record<string, unknown>;
  notImported: NotImported[];
}

const LOOPBACK_PEERS = ['127.0.0.0/8', '::1/128'];
const DEFAULT_PROMETHEUS_PORT = 9641;
const DEFAULT_STALE_NONCE = 600;

export function importCoturn(options: readonly ConfOption[]): CoturnImport {
  const config: Record<string, unknown> = {};
  const notImported: NotImported[] = [];
  const skip = (option: ConfOption, reason: string) => notImported.push({ option, reason });
  const last = (name: string) => [...options].reverse().find((o) => o.name === name);
  const has = (name: string) => options.some((o) => o.name === name);
  const push = (key: string, ...values: unknown[]) => {
    config[key] = [...((config[key] as unknown[] | undefined) ?? []), ...values];
  };
  const number = (o: ConfOption) => (o.value !== undefined && /^\d+$/.test(o.value) ? Number(o.value) : o.value);
  const noTls = has('no-tls');
  const useAuthSecret = has('use-auth-secret');

  for (const o of options) {
    const known = COTURN_OPTIONS[o.name];
    if (known === undefined) {
      skip(o, 'unknown coturn option');
      continue;
    }
    if (known.kind !== 'mapped') {
      skip(o, known.kind === 'implied' ? `nothing to set: ${known.reason}` : `not supported: ${known.reason}`);
      continue;
    }
    const overriddenBy = SINGLE_VALUED.has(o.name) ? last(o.name) : undefined;
    if (overriddenBy !== undefined && overriddenBy !== o) {
      skip(o, `given again on line ${overriddenBy.line} (coturn takes the last)`);
      continue;
    }
    switch (o.name) {
      case 'listening-port': config.port = number(o); break;
      case 'min-port': config['min-port'] = number(o); break;
      case 'max-port': config['max-port'] = number(o); break;
      case 'total-quota': config.capacity = number(o); break;
      case 'user-quota': config['user-quota'] = number(o); break;
      case 'max-bps': config['max-bps'] = number(o); break;
      case 'max-allocate-lifetime': config['lifetime-max'] = number(o); break;
      case 'stale-nonce': config['nonce-ttl'] = o.value === undefined ? DEFAULT_STALE_NONCE : number(o); break;
      case 'realm': config.realm = o.value; break;
      case 'listening-ip': push('listen', o.value); break;
      case 'relay-ip': push('relay-ip', o.value); break;
      case 'external-ip': push('external-ip', o.value); break;
      case 'user': push('user', o.value); break;
      case 'denied-peer-ip': push('deny-peer', o.value); break;
      case 'allowed-peer-ip': push('allow-peer', o.value); break;
      case 'allow-loopback-peers': push('allow-peer', ...LOOPBACK_PEERS); break;
      case 'no-tcp': config.tcp = false; break;
      case 'no-software-attribute':
      case 'prod': config.software = ''; break;
      case 'verbose':
      case 'Verbose': config['log-level'] = 'debug'; break;
      case 'use-auth-secret':
        if (!has('static-auth-secret')) skip(o, 'no static-auth-secret: coturn reads the secrets from its database; add them with `anyturn secret add`');
        break;
      case 'static-auth-secret':
        if (useAuthSecret) push('auth-secret', o.value);
        else skip(o, 'coturn ignores it without use-auth-secret');
        break;
      case 'cert':
      case 'pkey':
      case 'tls-listening-port':
        if (noTls) skip(o, 'no-tls is given');
        else if (o.name === 'tls-listening-port') config['tls-port'] = number(o);
        else if (o.name === 'cert') config['tls-cert'] = o.value;
        else if (has('cert')) config['tls-key'] = o.value;
        else skip(o, 'pkey without cert');
        break;
      case 'no-tls': break; // handled with cert/pkey
      case 'prometheus':
        config.metrics = `127.0.0.1:${last('prometheus-port')?.value ?? DEFAULT_PROMETHEUS_PORT}`;
        break;
      case 'prometheus-port':
        if (!has('prometheus')) skip(o, 'prometheus is not enabled');
        break;
      default:
        skip(o, `not imported (no conversion to ${known.key})`);
    }
  }
  // coturn reads the key from the certificate file when pkey is not given.
  if (config['tls-cert'] !== undefined && config['tls-key'] === undefined) config['tls-key'] = config['tls-cert'];
  if (config['tls-port'] !== undefined && config['tls-cert'] === undefined) {
    delete config['tls-port'];
    const o = last('tls-listening-port')!;
    notImported.push({ option: o, reason: 'no cert: TLS stays off' });
  }
  return { config, notImported: notImported.sort((a, b) => a.option.line - b.option.line) };
}

const SINGLE_VALUED = new Set([
  'listening-port', 'tls-listening-port', 'min-port', 'max-port', 'total-quota', 'user-quota', 'max-bps',
  'max-allocate-lifetime', 'stale-nonce', 'realm', 'cert', 'pkey', 'prometheus-port',
]);

/**
 * Checks the imported keys with the relay's schema; ATN_ERR_CONFIG_INVALID `<key>: <reason>` when a coturn value
 * does not make a valid anyturn value.
 */
export function validateImport(result: CoturnImport): void {
  const parsed = RelayConfigSchema.safeParse(result.config, { reportInput: true });
  if (!parsed.success) {
    const reasons = parsed.error.issues.flatMap((issue) => describeIssue(issue));
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `the imported configuration: ${reasons.join('; ')}`);
  }
}

/** The YAML file: a header, the keys, then every option not imported with its line and reason, as comments. */
export function renderImport(result: CoturnImport, source: string): string {
  const lines = [
    `# anyturn relay configuration imported from ${source} by \`anyturn import-coturn\`.`,
    '# Keys: docs/config.md; the coturn option table: docs/coturn.md.',
  ];
  const body = Object.keys(result.config).length === 0 ? '{}\n' : toYaml(result.config);
  const skipped = result.notImported.map(({ option, reason }) => {
    const text = option.value === undefined ? option.name : `${option.name}=${redact(option)}`;
    return `#   line ${option.line}: ${text}: ${reason}`;
  });
  return [...lines, body.trimEnd(), ...(skipped.length > 0 ? ['', `# Not imported (${skipped.length}):`, ...skipped] : []), ''].join('\n');
}

/** Secrets never end up in comments. */
function redact(option: ConfOption): string {
  return /secret|password|pwd|user/.test(option.name) ? '(hidden)' : (option.value ?? '');
}
