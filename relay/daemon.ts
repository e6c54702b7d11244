/**
 * The relay daemon's wiring: from a validated RelayConfig to running parts. Each part gets its typed slice of
 * the config and its dependencies; nothing here handles a packet.
 *
 *   Registry + RelayMetrics + StreamMetrics ─┐
 *   Credentials (StaticUsers, RestSecrets) ──┼─> TurnServer ─> UdpListener / TcpListener / TlsListener per --listen
 *   NonceService (--nonce-key) ──────────────┘                 HttpServer (--metrics): /metrics /healthz /status
 *   ClusterStore (--redis; in memory otherwise) <-> ClusterSync (relay/cluster-sync.ts): heartbeat, REST secrets,
 *   fleet nonce key, relayed-address claims; ClusterRelayDirectory -> anycast responder
 *   OverlayNode (--overlay): relay-to-relay over the private network, the data path's OverlayRoute
 *
 * Start-up checks (startup-checks.ts) refuse a config that cannot work on this host before anything is bound.
 * Start-up is all or nothing: when one listener cannot bind, everything already started is closed again and the
 * ATN_ERR_LISTEN_BIND error (naming the address) is thrown.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Credentials, RestSecrets, StaticUsers, type CredentialStore } from '../src/auth/credential-store.js';
import { NonceService } from '../src/auth/nonce.js';
import { registerBuildInfo } from '../src/build/build-info-metric.js';
import { systemClock, type Clock } from '../src/clock.js';
import { openClusterStore } from '../src/cluster/store.js';
import { TURN_LIFETIMES } from '../src/config/defaults.js';
import type { RelayConfig } from '../src/config/schema.js';
import { AnyturnError } from '../src/errors.js';
import type { Logger } from '../src/log.js';
import { createAnycast, type AnycastSetup } from './anycast/setup.js';
import { ClusterRelayDirectory, ClusterSync, unicastAddresses } from './cluster-sync.js';
import { HttpServer, type ListenerStatus, type RelayStatus } from './http/server.js';
import { clusterView } from './http/status-page.js';
import { CONTROL_PLANE_FDS, fdBudget } from './listen/fd-limit.js';
import { DEFAULT_IDLE_TIMEOUT_MS, StreamGuard } from './listen/stream-guard.js';
import { StreamMetrics } from './listen/stream-metrics.js';
import { TcpListener } from './listen/tcp.js';
import { TlsListener } from './listen/tls.js';
import { UdpListener } from './listen/udp.js';
import { RelayMetrics } from './metrics.js';
import { ChannelOffload } from './offload/channel-offload.js';
import { OffloadMetrics } from './offload/offload-metrics.js';
import { setUpOffload } from './offload/offload-setup.js';
import { selectUdpIo } from './datagram/udp-io.js';
import { registerRelayInfoMetrics } from './relay-info-metrics.js';
import { kebab, keysNeedingRestart, type ReloadResult } from './reload.js';
import { makeTestUser, type TestUser } from './startup-banner.js';
import { checkHost, configWarnings } from './startup-checks.js';
import { AddressMap } from './turn/address-map.js';
import { familyOf } from './turn/five-tuple.js';
import { TurnServer } from './turn/turn-server.js';
import { OverlayNode } from './overlay/overlay-node.js';
import { RemoteOverflow } from './capacity/remote-overflow.js';
import { StandbyGate } from './capacity/standby.js';
import type { TurnOptions } from './turn/turn-options.js';

/** Anything started by the daemon that can be closed (listeners, HTTP). */
interface Listener {
  readonly protocol: 'udp' | 'tcp' | 'tls';
  readonly role: 'unicast' | 'anycast';
  readonly localAddress: string;
  readonly localPort: number;
  listen(): Promise<void>;
  close(): Promise<void>;
}

export interface RunningRelay {
  readonly config: RelayConfig;
  readonly log: Logger;
  readonly registry: Registry;
  readonly turn: TurnServer;
  readonly http: HttpServer | undefined;
  /** Bound addresses, in start order. */
  readonly listeners: readonly ListenerStatus[];
  /** Set when no credentials were configured: the generated test user (see startup-banner.ts). */
  readonly testUser: TestUser | undefined;
  status(): RelayStatus;
  /** Draining: /healthz turns 503; allocations carry on. */
  setDraining(draining: boolean): void;
  /**
   * Applies what can change without a restart (relay/reload.ts): TLS certificate and key, static users, REST
   * secrets, admin token. Throws (and changes nothing) when the new TLS pair is unusable.
   */
  reload(next: RelayConfig): ReloadResult;
  /** reload() with deps.reloadConfig(); throws AnyturnError for a bad configuration, keeping the running one. */
  reloadFromSource(): ReloadResult;
  /** Idempotent: stops the listeners, ends every allocation, closes HTTP. */
  close(): Promise<void>;
}

export interface DaemonDeps {
  log: Logger;
  clock?: Clock;
  /** Reads the configuration again (the same file and flags) for SIGHUP / POST /reload; absent = /reload is 404. */
  reloadConfig?: () => RelayConfig;
}

/** The TURN core's options from the relay config (one mapping, no re-validation). */
export function turnOptionsFrom(config: RelayConfig, allowPeers: readonly string[]): TurnOptions {
  return {
    realm: config.realm,
    software: config.software,
    relayAddresses: config.relayIp,
    externalAddresses: config.externalIp ?? [],
    egress: config.egress,
    uplinks: config.uplink,
    minPort: config.minPort,
    maxPort: config.maxPort,
    capacity: config.capacity,
    userQuota: config.userQuota,
    maxChannelsPerAllocation: config.channelQuota,
    userChannelQuota: config.userChannelQuota,
    maxBytesPerSecond: config.maxBps,
    maxLifetimeSeconds: config.lifetimeMax,
    defaultLifetimeSeconds: Math.min(TURN_LIFETIMES.allocation, config.lifetimeMax),
    permissionLifetimeSeconds: TURN_LIFETIMES.permission,
    channelLifetimeSeconds: TURN_LIFETIMES.channel,
    allowPeers,
    denyPeers: config.denyPeer,
  };
}

const LOOPBACK_PEERS = ['127.0.0.0/8', '::1/128'];

function isLoopback(address: string): boolean {
  return familyOf(address) === 4 ? address.startsWith('127.') : address === '::1';
}

/**
 * Peers allowed beyond the default policy. A relay whose relayed addresses are all loopback can only ever reach
 * loopback peers, so (unless --allow-peer says otherwise) it allows them: that is what makes `npm start` on
 * 127.0.0.1 usable. A relay on any real address keeps the default deny list.
 */
export function effectiveAllowPeers(config: RelayConfig): readonly string[] {
  if (config.allowPeer.length > 0) return config.allowPeer;
  return config.relayIp.every(isLoopback) ? LOOPBACK_PEERS : [];
}

export async function startRelay(config: RelayConfig, deps: DaemonDeps): Promise<RunningRelay> {
  const log = deps.log;
  const clock = deps.clock ?? systemClock;
  const startedAt = clock.now();
  for (const warning of configWarnings(config)) log.warn({ event: 'config-warning' }, warning);
  await checkHost(config); // ATN_ERR_CONFIG_INVALID before anything is bound

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerBuildInfo(registry);
  const metrics = new RelayMetrics(registry);
  const streamGuard = createStreamGuard(config, log);
  const streamMetrics = new StreamMetrics(registry, () => streamGuard.bufferedBytes);
  // Kernel fast path (--offload), first: `on` without it stops here. Attached before any listener answers; its maps
  // start empty (relay/offload/kernel-fast-path.ts: nothing of a previous process survives it).
  const offloadMetrics = new OffloadMetrics(registry);
  const kernel = setUpOffload(
    { mode: config.offload, listen: config.listen, relayIp: config.relayIp, maxBps: config.maxBps }, log,
  );

  // UDP socket I/O (--udp-io): `native` without the engine stops here too.
  const udpIo = selectUdpIo(config.udpIo, log);

  let testUser: TestUser | undefined;
  // With a shared store, REST secrets can arrive at any time (`anyturn secret add`): no generated test user then.
  if (config.user.length === 0 && config.authSecret.length === 0 && config.redis === undefined) {
    testUser = makeTestUser();
    log.warn({ user: testUser.name }, 'no --user or --auth-secret configured: serving a generated test user');
  }
  // Both stores always exist, so that a reload can add users or secrets to a relay that started without them.
  const staticUsers = new StaticUsers(testUser !== undefined ? [testUser] : config.user);
  const restSecrets = new RestSecrets([...config.authSecret]);
  const stores: CredentialStore[] = [staticUsers, restSecrets];
  const credentials = new Credentials(stores);
  const nonces = new NonceService({ key: config.nonceKey, ttlMs: config.nonceTtl * 1000, clock });
  const store = await openClusterStore({ redisUrl: config.redis, log, clock });
  await store.start(); // bounded: an unreachable Redis leaves the store degraded, the relay starts anyway

  const allowPeers = effectiveAllowPeers(config);
  if (allowPeers !== config.allowPeer) log.info({ allowPeers }, 'relayed addresses are loopback: loopback peers allowed');
  // A full PoP refers new clients to the nearest other PoP (--pop-distance); a --standby relay joins the race late.
  const overflow = config.popDistance.length === 0
    ? undefined
    : new RemoteOverflow(
      { selfId: config.id, pop: config.pop, distances: new Map(config.popDistance.map((d) => [d.pop, d.distance])) },
      { store, clock },
    );
  const standby = config.standby
    ? new StandbyGate(
      { selfId: config.id, pop: config.pop, threshold: config.standbyThreshold, hysteresis: config.standbyHysteresis },
      { store, clock },
    )
    : undefined;
  // Anycast (--anycast G): requests on G go to the responder (race, 300 redirects); see relay/anycast/setup.ts.
  let turnRef: TurnServer | undefined;
  const anycast: AnycastSetup | undefined =
    config.anycast.length === 0
      ? undefined
      : createAnycast(config, {
          credentials, nonces, clock, log, registry, metrics, allocations: () => turnRef?.allocationCount ?? 0,
          directory: new ClusterRelayDirectory(store, config.pop, clock),
          overflow, standby,
        });
  // Overlay (--overlay): relay-to-relay over the private network; see relay/overlay/overlay-node.ts.
  const overlay = config.overlay.length === 0
    ? undefined
    : new OverlayNode(
      {
        id: config.id, addresses: config.overlay, duplicate: config.overlayDuplicate, socketBuffer: config.udpBuffer,
        relayed: { addresses: config.relayIp.map((ip) => externalOf(config, ip)), minPort: config.minPort, maxPort: config.maxPort },
      },
      { store, registry, clock, log },
    );
  const turnOptions = turnOptionsFrom(config, allowPeers);
  const offload = kernel === undefined ? undefined : new ChannelOffload({
    kernel, metrics, offloadMetrics, log, now: () => clock.now(),
    addresses: new AddressMap(turnOptions.externalAddresses ?? []),
    overlay,
  });
  offloadMetrics.enabled = offload === undefined ? 0 : 1;
  const turn = new TurnServer(turnOptions, {
    credentials, nonces, clock, log, metrics, anycast: anycast?.responder, overlay, flows: offload, udpIo,
  });
  turnRef = turn;
  // An allocation made here proves a real client followed an earlier answer: it refunds the anycast byte budget.
  if (anycast !== undefined) turn.on('allocation', () => anycast.budget.refund());
  overlay?.attach(turn);

  const listeners: Listener[] = [];

  let draining = false;
  registerRelayInfoMetrics(registry, {
    id: config.id, pop: config.pop, capacity: config.capacity,
    storeUp: () => store.connectionState() === 'up', draining: () => draining, udpIo: udpIo.kind,
  });
  const setDraining = (value: boolean): void => {
    draining = value;
    if (value) anycast?.drain.drain();
    else anycast?.drain.undrain();
    http?.setDraining(value);
  };
  const listenerStatus = (): ListenerStatus[] =>
    listeners.map((l) => ({ protocol: l.protocol, role: l.role, address: l.localAddress, port: l.localPort }));
  const relayedBytes = (): { received: number; sent: number } => ({
    received: metrics.clientReceivedBytes + metrics.peerReceivedBytes,
    sent: metrics.clientSentBytes + metrics.peerSentBytes,
  });
  const status = (): RelayStatus => {
    const beat = sync.heartbeatRecord(); // what this relay's heartbeat says: state, load score, bandwidth
    return {
      id: config.id,
      pop: config.pop,
      allocations: turn.allocationCount,
      capacity: config.capacity,
      listeners: listenerStatus(),
      uptimeSeconds: Math.floor((clock.now() - startedAt) / 1000),
      draining,
      connections: { tcp: streamMetrics.open('tcp'), tls: streamMetrics.open('tls') },
      cluster: { store: store.kind, connection: store.connectionState() },
      state: beat.state,
      load: beat.load,
      bandwidthBps: beat.bandwidthBps,
      relayedBytes: relayedBytes(),
      // What clients are told (behind 1:1 NAT the --external-ip of each address); `listeners` are the bound ones.
      advertised: { addresses: beat.addresses, relayIp: config.relayIp.map((ip) => turn.addresses.advertised(ip)) },
      ...(beat.overlay !== undefined ? { overlay: beat.overlay } : {}),
      ...(overflow !== undefined ? { overflowRedirects: overflow.redirects } : {}),
      ...(standby !== undefined ? { standby: { silent: standby.silent, othersLoad: standby.othersLoad() ?? null } } : {}),
    };
  };
  const http =
    config.metrics === undefined
      ? undefined
      : new HttpServer(
          { address: config.metrics.address, port: config.metrics.port },
          {
            registry, status, log, drain: { drain: () => setDraining(true), undrain: () => setDraining(false) },
            cluster: () => clusterView(store, clock.now()),
            adminToken: config.adminToken,
            reload: deps.reloadConfig === undefined ? undefined : () => reloadFromSource(),
          },
        );

  const sync = new ClusterSync(
    {
      id: config.id, pop: config.pop, capacity: config.capacity, linkCapacity: config.linkCapacity, memoryBudget: config.memoryBudget,
      authSecrets: config.authSecret, fleetNonceKey: config.nonceKeyGiven !== true && store.kind === 'redis',
    },
    {
      store, turn, restSecrets, nonces, clock, log, load: anycast?.load, draining: () => draining,
      addresses: () => unicastAddresses(listenerStatus(), config.relayIp, turn.addresses),
      relayedBytes,
      ...(overlay !== undefined ? { overlay: () => overlay.report() } : {}),
      egress: turn.egress,
    },
  );

  let current = config;
  const reload = (next: RelayConfig): ReloadResult => {
    const reloaded: string[] = [];
    const tlsListeners = listeners.filter((l): l is TlsListener => l instanceof TlsListener);
    if (tlsListeners.length > 0 && next.tlsCert !== undefined && next.tlsKey !== undefined) {
      for (const l of tlsListeners) l.reloadCertificate(next.tlsCert, next.tlsKey); // the first bad pair throws
      reloaded.push('tls-cert', 'tls-key');
    }
    staticUsers.setUsers(next.user.length > 0 || testUser === undefined ? next.user : [testUser]);
    sync.setConfiguredSecrets(next.authSecret);
    http?.setAdminToken(next.adminToken);
    reloaded.push('user', 'auth-secret', 'admin-token');
    const restartNeeded = keysNeedingRestart(current, next);
    current = { ...next, ...pick(current, restartNeeded) };
    const result = { reloaded, restartNeeded, users: staticUsers.size, authSecrets: restSecrets.secrets.length };
    log.info({ event: 'reloaded', ...result }, 'configuration reloaded');
    if (restartNeeded.length > 0) log.warn({ keys: restartNeeded }, 'changed keys need a restart; their old values stay in force');
    return result;
  };
  const reloadFromSource = (): ReloadResult => {
    if (deps.reloadConfig === undefined) throw new Error('no configuration source to reload from');
    return reload(deps.reloadConfig());
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      http?.setReady(false);
      await Promise.all(listeners.map((l) => l.close()));
      anycast?.close();
      overlay?.close();
      turn.close();
      offload?.close();
      kernel?.close();
      await sync.close(); // after turn.close(): releases the relayed addresses, then deregisters
      await store.close();
      await http?.close();
    })();
    return closing;
  };

  try {
    await overlay?.start().catch((err: unknown) => {
      const where = config.overlay.map((a) => `${a.address}:${a.port}`).join(', ');
      throw new AnyturnError('ATN_ERR_LISTEN_BIND', `overlay ${where}: ${(err as Error).message}`, { cause: err });
    });
    await anycast?.start(); // the race group, before the anycast listeners hear anything
    createListeners(config, listeners, { turn, log, metrics, streamMetrics, streamGuard });
    for (const listener of listeners) await listener.listen();
    await sync.start();
    await http?.listen();
  } catch (err) {
    await close();
    throw err;
  }
  http?.setReady(true);

  return {
    config,
    log,
    registry,
    turn,
    http,
    listeners: listenerStatus(),
    testUser,
    status,
    setDraining,
    reload,
    reloadFromSource,
    close,
  };
}

/**
 * The limits and deadlines all TCP/TLS connections share (relay/listen/stream-guard.ts). The connection total
 * defaults to what the fd limit leaves after one relayed socket per allocation and the control plane.
 */
function createStreamGuard(config: RelayConfig, log: Logger): StreamGuard {
  const budget = fdBudget(config.capacity);
  const maxConnections = config.streamMaxConnections > 0 ? config.streamMaxConnections : budget.streamConnections;
  if (budget.short) {
    log.warn(
      { event: 'config-warning', noFile: budget.noFile, capacity: config.capacity },
      `RLIMIT_NOFILE ${budget.noFile} cannot hold capacity ${config.capacity} relayed sockets + ${CONTROL_PLANE_FDS} for the control plane + TCP/TLS connections: raise it (systemd LimitNOFILE=) or lower capacity`,
    );
  }
  log.info({ maxConnections, noFile: budget.noFile, maxPerSource: config.streamMaxPerSource }, 'TCP/TLS connection limits');
  return new StreamGuard({
    maxConnections,
    maxPerSource: config.streamMaxPerSource,
    maxBufferedBytes: config.streamBufferBudget,
    requestTimeoutMs: config.streamRequestTimeout,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  });
}

/** What clients are told for a relay IP: its external-ip (1:1 NAT) or itself. */
function externalOf(config: RelayConfig, ip: string): string {
  return config.externalIp?.find((e) => e.private === ip)?.public ?? ip;
}

/** One UDP (+ TCP, + TLS) listener per --listen address (unicast role) and per --anycast address (anycast role). */
function createListeners(
  config: RelayConfig,
  into: Listener[],
  deps: { turn: TurnServer; log: Logger; metrics: RelayMetrics; streamMetrics: StreamMetrics; streamGuard: StreamGuard },
): void {
  const { turn, log, metrics, streamMetrics, streamGuard: guard } = deps;
  const streamDeps = { sink: turn, log, metrics, streamMetrics };
  const addresses = [
    ...config.listen.map((address) => ({ address, role: 'unicast' as const })),
    ...config.anycast.map((address) => ({ address, role: 'anycast' as const })),
  ];
  for (const { address, role } of addresses) {
    into.push(new UdpListener(
      { address, port: config.port, role, receiveBufferSize: config.udpBuffer, sendBufferSize: config.udpBuffer },
      { server: turn, log },
    ));
    if (config.tcp) into.push(new TcpListener({ address, port: config.port, role, guard }, streamDeps));
    if (config.tlsPort !== undefined && config.tlsCert !== undefined && config.tlsKey !== undefined) {
      const tls = { address, port: config.tlsPort, role, certFile: config.tlsCert, keyFile: config.tlsKey, guard };
      into.push(new TlsListener(tls, streamDeps));
    }
  }
}

/** The camelCase keys of `config` named (kebab-case) in `keys`, for keeping their running values. */
function pick(config: RelayConfig, keys: readonly string[]): Partial<RelayConfig> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (keys.includes(kebab(key))) out[key] = value;
  }
  return out as Partial<RelayConfig>;
}
