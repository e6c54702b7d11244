/**
 * `anyturn secret add|retire|list --redis URL [SECRET] [--prefix P] [--reveal]`: cluster-wide rotation of the
 * TURN REST API shared secrets. Every relay started with `--redis` follows the store's secret list without a
 * restart (relay/cluster-sync.ts), beside its own `--auth-secret`s.
 *
 *   anyturn secret add --redis URL S2       # relays accept S1 and S2
 *   anyturn secret retire --redis URL S1    # relays accept S2 only: S1 credentials get 401
 *   anyturn secret list --redis URL         # fingerprints, newest first (--reveal prints the secrets)
 *
 * `--overlay` acts on the overlay keys instead (src/overlay/keyring.ts: the MAC key of relay-to-relay packets;
 * the newest signs, every listed one verifies): add the new key, wait a heartbeat or two, retire the old one.
 *
 * `--egress` acts on the per-tenant egress table: rules `TENANT=UPLINK` (newest rule of a tenant wins; each relay
 * maps uplink names to its own relay addresses with `uplink NAME=IP`); `list` prints them as they are.
 *
 * SECRET `-` reads the secret from the first line of stdin (keeps it out of the process list and shell history).
 * `retire` also takes a fingerprint as `list` prints it (`sha256:<12 hex>`).
 *
 * Exit status: 0 done (also: `add` of a secret already present), 1 the store is unreachable or the write did not
 * reach it, or `retire` of a secret the store does not hold; usage errors are ATN_ERR_CLI_USAGE.
 */
import { createHash } from 'node:crypto';
import { formatUsage, parseFlags, wantsHelp, type FlagsSpec } from '../../src/config/flags.js';
import { AnyturnError, assertNever } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { redactRedisUrl } from '../../src/cluster/redis-url.js';
import { checkEgressRule, checkOverlayKey, checkSecret } from '../../src/cluster/records.js';
import type { ClusterStore } from '../../src/cluster/store.js';

export const SECRET_FLAGS = {
  redis: { type: 'string', arg: 'URL', help: 'cluster store (redis://, rediss://, redis+sentinel://, redis+cluster://, unix://)' },
  prefix: { type: 'string', arg: 'P', help: 'key prefix of the cluster (default anyturn)' },
  reveal: { type: 'boolean', help: 'list: print the secrets themselves, not their fingerprints' },
  overlay: { type: 'boolean', help: 'act on the overlay keys (relay-to-relay MAC keys) instead of the REST secrets' },
  egress: { type: 'boolean', help: 'act on the per-tenant egress table (TENANT=UPLINK rules; list prints them as they are)' },
} as const satisfies FlagsSpec;

const USAGE = formatUsage('anyturn secret add|retire|list --redis URL [SECRET|-] [--prefix P] [--reveal] [--overlay | --egress]', SECRET_FLAGS);

export interface SecretIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** The secret when SECRET is `-` (default: the first line of process.stdin). */
  readStdin?: () => Promise<string>;
  /** Use this store instead of opening one from --redis (tests). */
  store?: ClusterStore;
}

type Action = 'add' | 'retire' | 'list';

/** One rotating list of the store: the REST secrets or the overlay keys. */
interface SecretList {
  list(): string[];
  add(secret: string): Promise<'written' | 'queued'>;
  retire(secret: string): Promise<'written' | 'queued'>;
  check(secret: string): void;
}

function secretList(store: ClusterStore, kind: 'secret' | 'overlay' | 'egress'): SecretList {
  switch (kind) {
    case 'overlay':
      return { list: () => store.overlayKeys(), add: (s) => store.addOverlayKey(s), retire: (s) => store.retireOverlayKey(s), check: checkOverlayKey };
    case 'egress':
      return { list: () => store.egressRules(), add: (s) => store.addEgressRule(s), retire: (s) => store.retireEgressRule(s), check: checkEgressRule };
    default:
      return { list: () => store.secrets(), add: (s) => store.addSecret(s), retire: (s) => store.retireSecret(s), check: checkSecret };
  }
}

/** `sha256:` + the first 12 hex digits of SHA-256(secret): names a secret without showing it. */
export function secretFingerprint(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 12)}`;
}

export async function run(argv: string[], io: SecretIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(USAGE);
    return 0;
  }
  const flags = parseFlags(argv, SECRET_FLAGS, { positionals: true });
  const [actionText, secretArg, ...extra] = flags._ as string[];
  const action = parseAction(actionText);
  if (extra.length > 0) throw new AnyturnError('ATN_ERR_CLI_USAGE', `unexpected argument '${extra[0]}'`);
  if (action === 'list' && secretArg !== undefined) throw new AnyturnError('ATN_ERR_CLI_USAGE', `list takes no SECRET`);
  if (action !== 'list' && secretArg === undefined) throw new AnyturnError('ATN_ERR_CLI_USAGE', `${action} needs a SECRET (or - for stdin)`);
  const secret = secretArg === '-' ? (await (io.readStdin ?? readFirstLine)()).trim() : secretArg;
  if (flags.overlay === true && flags.egress === true) throw new AnyturnError('ATN_ERR_CLI_USAGE', '--overlay and --egress exclude each other');
  const kind = flags.overlay === true ? 'overlay' : flags.egress === true ? 'egress' : 'secret';
  if (action === 'add') {
    try {
      ({ secret: checkSecret, overlay: checkOverlayKey, egress: checkEgressRule })[kind](secret!);
    } catch (err) {
      throw new AnyturnError('ATN_ERR_CLI_USAGE', (err as Error).message);
    }
  }

  const url = flags.redis as string | undefined;
  let store = io.store;
  if (store === undefined) {
    if (url === undefined) throw new AnyturnError('ATN_ERR_CLI_USAGE', '--redis URL is required (the cluster store the relays use)');
    const { RedisClusterStore } = await import('../../src/cluster/redis-store.js');
    store = new RedisClusterStore({ url, keyPrefix: flags.prefix as string | undefined, log: silentLogger(), refreshIntervalMs: 60_000 });
  }
  const source = url === undefined ? store.kind : redactRedisUrl(url);
  const owned = io.store === undefined;
  try {
    await store.start();
    if (store.connectionState() !== 'up') {
      throw new AnyturnError('ATN_ERR_CLUSTER_UNAVAILABLE', `cannot reach the cluster store at ${source}`);
    }
    await store.refresh();
    const list = secretList(store, kind);
    switch (action) {
      case 'list':
        for (const s of list.list()) io.stdout.write(`${flags.reveal === true || kind === 'egress' ? s : secretFingerprint(s)}\n`);
        return 0;
      case 'add':
        return await add(list, secret!, io);
      case 'retire':
        return await retire(list, secret!, io);
      default:
        return assertNever(action);
    }
  } finally {
    if (owned) await store.close();
  }
}

async function add(store: SecretList, secret: string, io: SecretIo): Promise<number> {
  const fingerprint = secretFingerprint(secret);
  if (store.list().includes(secret)) {
    io.stdout.write(`${fingerprint} already present (${store.list().length} secrets)\n`);
    return 0;
  }
  if ((await store.add(secret)) !== 'written') return notWritten(io);
  io.stdout.write(`${fingerprint} added (${store.list().length} secrets)\n`);
  return 0;
}

async function retire(store: SecretList, given: string, io: SecretIo): Promise<number> {
  const held = store.list();
  const secret = held.includes(given) ? given : held.find((s) => secretFingerprint(s) === given);
  if (secret === undefined) {
    io.stderr.write(`anyturn secret: the cluster store holds no such secret (${held.length} secrets)\n`);
    return 1;
  }
  if ((await store.retire(secret)) !== 'written') return notWritten(io);
  const left = store.list().length;
  io.stdout.write(`${secretFingerprint(secret)} retired (${left} secrets left)\n`);
  if (left === 0) io.stderr.write('anyturn secret: warning: no secret left; relays accept only their --auth-secret and --user credentials\n');
  return 0;
}

function notWritten(io: SecretIo): number {
  io.stderr.write('anyturn secret: the cluster store became unreachable; the change was not written\n');
  return 1;
}

function parseAction(text: string | undefined): Action {
  if (text === 'add' || text === 'retire' || text === 'list') return text;
  throw new AnyturnError('ATN_ERR_CLI_USAGE', text === undefined ? `expected add, retire or list\n\n${USAGE}` : `unknown action '${text}' (add, retire or list)`);
}

async function readFirstLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split('\n', 1)[0];
}
