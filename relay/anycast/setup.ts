/**
 * Wiring of the anycast parts for the daemon (relay/daemon.ts): from the relay config slice to a ready
 * AnycastResponder with its load monitor, rate limiter, drain state and metrics. Wiring only, no packet handling.
 *
 *   const anycast = config.anycast.length > 0
 *     ? createAnycast(config, { credentials, nonces, clock, log, registry, metrics, allocations: () => turn.allocationCount })
 *     : undefined;
 *   const turn = new TurnServer(options, { ..., anycast: anycast?.responder });
 *   // listeners: for each G of config.anycast, UDP (and TCP, TLS) on G:port with role 'anycast'
 *   // drain: anycast.drain.drain() / undrain() from SIGUSR1 / SIGUSR2 / POST /drain, /undrain
 *   // close: anycast.close()
 *
 * ALTERNATE-SERVER addresses come from the unicast listeners: per family, the first specific (non-wildcard)
 * --listen address with --port for UDP and TCP, --tls-port for TLS; behind 1:1 NAT its --external-ip mapping.
 */
import type { Registry } from 'prom-client';
import type { CredentialStore } from '../../src/auth/credential-store.js';
import type { NonceService } from '../../src/auth/nonce.js';
import type { Clock } from '../../src/clock.js';
import type { Logger } from '../../src/log.js';
import type { RelayMetrics } from '../metrics.js';
import { AddressMap, type ExternalAddress } from '../turn/address-map.js';
import { familyOf } from '../turn/five-tuple.js';
import type { Timers } from './delay-queue.js';
import { DrainState } from './drain.js';
import { LoadMonitor } from './load-monitor.js';
import { AnycastMetrics, registerAnycastMetrics } from './metrics.js';
import type { HostPort } from '../../src/config/fields.js';
import type { RaceCurve, RaceMode, RedirectMode } from '../../src/config/schema.js';
import { AnswerBudget, DEFAULT_ANSWER_BUDGET } from './answer-budget.js';
import { RaceGroup } from './race-group.js';
import { DEFAULT_RATE_LIMIT_OPTIONS, SourceRateLimiter } from './rate-limit.js';
import { AnycastResponder, type OverflowTarget } from './responder.js';
import type { AlternateServers, RelayDirectory } from './single-responder.js';

/** The part of RelayConfig (src/config/schema.ts) the anycast responder needs. */
export interface AnycastConfig {
  readonly id: string;
  readonly realm: string;
  readonly listen: readonly string[];
  readonly port: number;
  readonly tcp: boolean;
  readonly tlsPort: number | undefined;
  /** 1:1 NAT mappings (`external-ip`): a listen address that is a PRIVATE one is advertised as its PUBLIC. */
  readonly externalIp?: readonly ExternalAddress[];
  readonly capacity: number;
  readonly linkCapacity: number;
  /** `--memory-budget` (load score); absent = 0. */
  readonly memoryBudget?: number;
  readonly redirect: RedirectMode;
  readonly race: RaceMode;
  readonly raceMaxDelay: number;
  readonly raceCurve: RaceCurve;
  /** The PoP race group (`race-group`); undefined = off. */
  readonly raceGroup: HostPort | undefined;
  readonly raceStep: number;
  readonly anycastRate: number;
  /** `anycast-budget`: the byte budget's burst; 0 = no budget. */
  readonly anycastBudget: number;
}

export interface AnycastSetupDeps {
  credentials: CredentialStore;
  nonces: NonceService;
  clock: Clock;
  log: Logger;
  /** The daemon's prom-client registry (the anyturn_anycast_* and anyturn_load_* metrics go there). */
  registry: Registry;
  /** The relay's counters: relayed bytes for the bandwidth component. */
  metrics: RelayMetrics;
  /** Live allocations (TurnServer.allocationCount; a closure because the TurnServer is made after this). */
  allocations: () => number;
  /** Required with --race single (the cluster's relay registry); optional otherwise. */
  directory?: RelayDirectory;
  /** `pop-distance`: overflow to a remote PoP when this PoP is full (relay/capacity/remote-overflow.ts). */
  overflow?: OverflowTarget;
  /** `--standby` (relay/capacity/standby.ts). */
  standby?: { readonly silent: boolean };
  timers?: Timers;
}

export interface AnycastSetup {
  readonly responder: AnycastResponder;
  readonly drain: DrainState;
  readonly load: LoadMonitor;
  readonly limiter: SourceRateLimiter;
  readonly metrics: AnycastMetrics;
  readonly alternates: AlternateServers;
  readonly budget: AnswerBudget;
  /** The PoP race group (undefined when off or no IPv4 unicast listen address). */
  readonly group: RaceGroup | undefined;
  /** Joins the race group (before the anycast listeners open); never rejects. */
  start(): Promise<void>;
  /** Stops the load sampling, leaves the race group and drops pending answers; idempotent. */
  close(): void;
}

const isWildcard = (ip: string): boolean => ip === '0.0.0.0' || ip.replace(/[:0]/g, '') === '';

/** ALTERNATE-SERVER per transport and family, from the unicast listeners (as advertised: external-ip). */
export function alternatesFrom(config: Pick<AnycastConfig, 'listen' | 'port' | 'tcp' | 'tlsPort' | 'externalIp'>): AlternateServers {
  const out: AlternateServers = {};
  const addresses = new AddressMap(config.externalIp ?? []);
  for (const family of [4, 6] as const) {
    const listen = config.listen.find((a) => familyOf(a) === family && !isWildcard(a));
    if (listen === undefined) continue;
    const address = addresses.advertised(listen);
    out[`udp${family}`] = { family, address, port: config.port };
    if (config.tcp) out[`tcp${family}`] = { family, address, port: config.port };
    if (config.tlsPort !== undefined) out[`tls${family}`] = { family, address, port: config.tlsPort };
  }
  return out;
}

export function createAnycast(config: AnycastConfig, deps: AnycastSetupDeps): AnycastSetup {
  const log = deps.log.child({ component: 'anycast' });
  const relayMetrics = deps.metrics;
  const load = new LoadMonitor(
    { capacity: config.capacity, linkCapacity: config.linkCapacity, memoryBudget: config.memoryBudget },
    {
      sources: {
        allocations: deps.allocations,
        relayedBytes: () => ({
          received: relayMetrics.clientReceivedBytes + relayMetrics.peerReceivedBytes,
          sent: relayMetrics.clientSentBytes + relayMetrics.peerSentBytes,
        }),
      },
      clock: deps.clock,
      timers: deps.timers,
    },
  ).start();
  const limiter = new SourceRateLimiter(
    { ...DEFAULT_RATE_LIMIT_OPTIONS, perSourceRate: config.anycastRate, perSourceBurst: 2 * config.anycastRate },
    deps.clock,
  );
  const drain = new DrainState();
  const metrics = new AnycastMetrics();
  const alternates = alternatesFrom(config);
  if (Object.keys(alternates).length === 0) {
    log.warn('no specific unicast --listen address: Allocates on the anycast address cannot be redirected');
  }
  const budget = new AnswerBudget({ ...DEFAULT_ANSWER_BUDGET, burstBytes: config.anycastBudget });
  const lanAddress = config.listen.find((a) => familyOf(a) === 4 && !isWildcard(a));
  let responderRef: AnycastResponder | undefined;
  const group =
    config.raceGroup === undefined || lanAddress === undefined
      ? undefined
      : new RaceGroup(
          { id: config.id, group: config.raceGroup.address, port: config.raceGroup.port, interfaceAddress: lanAddress },
          {
            clock: deps.clock,
            log,
            fleetKeys: () => deps.nonces.keys(),
            // a silent hot spare is out of the ranking like a draining relay (nobody waits for its claim)
            state: () => ({ score: load.score(), draining: drain.isDraining || deps.standby?.silent === true }),
            onClaim: (c) => responderRef?.peerClaimed(c.clientAddress, c.clientPort, c.transactionId, c.requestHash),
            timers: deps.timers,
          },
        );
  if (config.raceGroup !== undefined && lanAddress === undefined) {
    log.warn('no IPv4 unicast --listen address: no race group, every relay of the PoP may answer on the anycast address');
  }
  const responder = new AnycastResponder(
    {
      realm: config.realm,
      redirect: config.redirect,
      race: config.race,
      raceMaxDelayMs: config.raceMaxDelay,
      raceCurve: config.raceCurve,
      raceStepMs: config.raceStep,
      relayId: config.id,
      alternates,
    },
    {
      credentials: deps.credentials,
      nonces: deps.nonces,
      clock: deps.clock,
      log,
      load,
      drain,
      limiter,
      budget,
      metrics,
      group,
      directory: deps.directory,
      overflow: deps.overflow,
      standby: deps.standby,
      timers: deps.timers,
    },
  );
  responderRef = responder;
  registerAnycastMetrics(deps.registry, { metrics, load, drain, pending: () => responder.pending, budget, group });
  drain.on('changed', (draining) => {
    log.info({ draining }, draining ? 'draining: silent on the anycast address' : 'draining ended');
    group?.refresh();
  });
  let closed = false;
  return {
    responder,
    drain,
    load,
    limiter,
    metrics,
    alternates,
    budget,
    group,
    async start() {
      await group?.start();
    },
    close() {
      if (closed) return;
      closed = true;
      load.close();
      group?.close();
      responder.close();
    },
  };
}
