/**
 * Every coturn option (turnserver.conf / turnserver flags, as documented in coturn's annotated turnserver.conf)
 * and what anyturn does with it: `mapped` to an anyturn key, `implied` (anyturn always behaves so, nothing to
 * write) or `unsupported` (with the reason). docs/coturn.md holds the same table; a test checks they agree.
 */
export type CoturnOption =
  | { kind: 'mapped'; key: string; note?: string }
  | { kind: 'implied'; reason: string }
  | { kind: 'unsupported'; reason: string };

const mapped = (key: string, note?: string): CoturnOption => ({ kind: 'mapped', key, ...(note ? { note } : {}) });
const implied = (reason: string): CoturnOption => ({ kind: 'implied', reason });
const unsupported = (reason: string): CoturnOption => ({ kind: 'unsupported', reason });

const LOGGING = 'anyturn logs JSON lines to stdout; the service manager (journald, syslog) stores them';
const NO_CLI = 'no telnet CLI: use `anyturn status`, GET /status and the live page on `metrics`';
const NO_WEB_ADMIN = 'no web admin: the live page and /status on `metrics` (read-only)';
const NO_USERDB = 'no user database: list users as `user` entries (hashed 0x keys work) or use REST secrets (`auth-secret`, `anyturn secret add`)';
const NO_5780 = 'NAT behaviour discovery (RFC 5780) is not implemented';
const TLS_DEFAULTS = "Node.js's TLS defaults (TLS 1.2 minimum, its cipher list and curves)";
const ONE_PROCESS = 'one Node.js process per relay: run more relays (the anycast race spreads the load)';

export const COTURN_OPTIONS: Readonly<Record<string, CoturnOption>> = {
  'listening-port': mapped('port'),
  'tls-listening-port': mapped('tls-port'),
  'listening-ip': mapped('listen'),
  'relay-ip': mapped('relay-ip'),
  'external-ip': mapped('external-ip', 'same PUBLIC or PUBLIC/PRIVATE form'),
  'min-port': mapped('min-port'),
  'max-port': mapped('max-port'),
  realm: mapped('realm'),
  user: mapped('user', 'NAME:PASS, or NAME:0xKEY with KEY = MD5(NAME:REALM:PASS) as coturn'),
  'use-auth-secret': mapped('auth-secret', 'with static-auth-secret: the TURN REST API'),
  'static-auth-secret': mapped('auth-secret', 'imported only with use-auth-secret, as coturn uses it'),
  cert: mapped('tls-cert'),
  pkey: mapped('tls-key'),
  'no-tcp': mapped('tcp', 'tcp: false'),
  'no-tls': mapped('tls-cert', 'TLS is off: cert, pkey and tls-listening-port are not imported'),
  'denied-peer-ip': mapped('deny-peer', 'ranges FIRST-LAST too'),
  'allowed-peer-ip': mapped('allow-peer', 'ranges FIRST-LAST too'),
  'allow-loopback-peers': mapped('allow-peer', '127.0.0.0/8 and ::1/128'),
  'total-quota': mapped('capacity'),
  'user-quota': mapped('user-quota'),
  'max-bps': mapped('max-bps', 'bytes/s per allocation'),
  'max-allocate-lifetime': mapped('lifetime-max'),
  'stale-nonce': mapped('nonce-ttl', 'default 600 s when given without a value'),
  'no-software-attribute': mapped('software', "software: ''"),
  prod: mapped('software', "software: '' (coturn's production mode hides the version)"),
  prometheus: mapped('metrics', '127.0.0.1:PORT (loopback: expose it deliberately)'),
  'prometheus-port': mapped('metrics', 'the PORT of metrics, with prometheus'),
  verbose: mapped('log-level', 'log-level: debug'),
  Verbose: mapped('log-level', 'log-level: debug'),

  'lt-cred-mech': implied('long-term credentials are always on'),
  fingerprint: implied('FINGERPRINT is always added'),
  'no-multicast-peers': implied('multicast peers are always refused (built-in deny list)'),
  'no-loopback-peers': implied('loopback peers are refused by default (built-in deny list)'),
  'no-dtls': implied('anyturn has no DTLS listener'),
  'no-tcp-relay': implied('TCP relaying (RFC 6062) is not implemented: always off'),
  'no-tlsv1': implied(`${TLS_DEFAULTS}: TLS 1.0 is never offered`),
  'no-tlsv1_1': implied(`${TLS_DEFAULTS}: TLS 1.1 is never offered`),
  'no-rfc5780': implied(NO_5780),
  'response-origin-only-with-rfc5780': implied(NO_5780),
  'no-stun-backward-compatibility': implied('only RFC 5389+ STUN (with the magic cookie) is answered'),
  'no-cli': implied(NO_CLI),
  'no-stdout-log': implied(LOGGING),
  syslog: implied(LOGGING),
  'simple-log': implied(LOGGING),
  'log-file': implied(LOGGING),
  'new-log-timestamp': implied(LOGGING),
  'new-log-timestamp-format': implied(LOGGING),
  'syslog-facility': implied(LOGGING),
  pidfile: implied('run it under a service manager (the Ansible role installs a systemd unit)'),
  'proc-user': implied('the service manager chooses the user (the systemd unit runs as `anyturn`)'),
  'proc-group': implied('the service manager chooses the group'),
  'relay-threads': implied(ONE_PROCESS),
  ne: implied(ONE_PROCESS),
  'server-name': implied('used by coturn for OAuth only'),

  'log-binding': unsupported('Binding requests are counted (metrics), not logged'),
  'no-udp': unsupported('the UDP listener is always on'),
  'no-udp-relay': unsupported('UDP relaying is always on (it is what anyturn relays)'),
  'no-stun': unsupported('STUN Binding is always answered'),
  'stun-only': unsupported('anyturn is always a TURN server'),
  'secure-stun': unsupported('Binding requests are never authenticated'),
  'no-auth': unsupported('Allocate always needs credentials'),
  mobility: unsupported('ICE mobility (RFC 8016) is not implemented'),
  rfc5780: unsupported(NO_5780),
  'alt-listening-port': unsupported(NO_5780),
  'alt-tls-listening-port': unsupported(NO_5780),
  'alternate-server': unsupported('anyturn redirects by itself: Allocates on the anycast address get a 300 to a relay'),
  'tls-alternate-server': unsupported('anyturn redirects by itself: Allocates on the anycast address get a 300 to a relay'),
  'aux-server': unsupported('no auxiliary servers'),
  'udp-self-balance': unsupported('the anycast race balances the relays of a PoP'),
  'listening-device': unsupported('bind to addresses (listen, relay-ip), not devices'),
  'relay-device': unsupported('bind to addresses (listen, relay-ip), not devices'),
  'channel-lifetime': unsupported("fixed at RFC 8656's 600 s"),
  'permission-lifetime': unsupported("fixed at RFC 8656's 300 s"),
  'max-allocate-timeout': unsupported('not configurable'),
  'allocation-default-address-family': unsupported('the client chooses (REQUESTED-ADDRESS-FAMILY); IPv4 by default'),
  'keep-address-family': unsupported('not configurable'),
  'check-origin-consistency': unsupported('ORIGIN is not checked'),
  'bps-capacity': unsupported('no server-wide bandwidth cap; link-capacity only weighs bandwidth in the load score'),
  userdb: unsupported(NO_USERDB),
  'psql-userdb': unsupported(NO_USERDB),
  'mysql-userdb': unsupported(NO_USERDB),
  'mongo-userdb': unsupported(NO_USERDB),
  'redis-userdb': unsupported(NO_USERDB),
  'secret-key-file': unsupported(NO_USERDB),
  'redis-statsdb': unsupported("statistics are Prometheus metrics; anyturn's `redis` is its cluster store (another schema)"),
  oauth: unsupported('third-party authorization (RFC 7635) is not implemented'),
  'server-relay': unsupported('not implemented'),
  'tcp-proxy-port': unsupported('not implemented'),
  'acme-redirect': unsupported('serve ACME challenges elsewhere; the relay re-reads renewed certificates on SIGHUP'),
  'cipher-list': unsupported(TLS_DEFAULTS),
  'ec-curve-name': unsupported(TLS_DEFAULTS),
  dh566: unsupported(TLS_DEFAULTS),
  dh1066: unsupported(TLS_DEFAULTS),
  'dh-file': unsupported(TLS_DEFAULTS),
  'no-tlsv1_2': unsupported(`${TLS_DEFAULTS}: TLS 1.2 stays on`),
  'CA-file': unsupported('client certificates are not checked'),
  'pkey-pwd': unsupported('use an unencrypted key file readable only by the relay'),
  'cli-ip': unsupported(NO_CLI),
  'cli-port': unsupported(NO_CLI),
  'cli-password': unsupported(NO_CLI),
  'cli-max-output-sessions': unsupported(NO_CLI),
  'web-admin': unsupported(NO_WEB_ADMIN),
  'web-admin-ip': unsupported(NO_WEB_ADMIN),
  'web-admin-port': unsupported(NO_WEB_ADMIN),
  'web-admin-listen-on-workers': unsupported(NO_WEB_ADMIN),
};
