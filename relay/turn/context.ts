/**
 * What request handlers see: the request (RequestContext) and the server's parts (TurnCore). Handlers return a
 * Reply that writes the success attributes; dispatch.ts adds SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT and
 * turns thrown AnyturnErrors into error responses.
 */
import type { Logger } from '../../src/log.js';
import type { Clock } from '../../src/clock.js';
import type { CredentialStore } from '../../src/auth/credential-store.js';
import type { NonceService } from '../../src/auth/nonce.js';
import type { StunMessage, StunWriter } from '../../src/stun/index.js';
import type { CloseReason, RelayMetrics } from '../metrics.js';
import type { Allocation } from './allocation.js';
import type { AllocationTable } from './allocation-table.js';
import type { AuthResult, Refusal } from './auth-check.js';
import type { ClientTransport } from './client-transport.js';
import type { DataPath } from './data-path.js';
import type { PeerPolicy } from './peer-policy.js';
import type { PortAllocator, PortRequest } from './port-allocator.js';
import type { Quota } from './quota.js';
import type { RelayedSocket } from './relayed-socket.js';
import type { TurnOptions } from './turn-options.js';

export interface RequestContext {
  readonly transport: ClientTransport;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** clientKey() of the 5-tuple. */
  readonly key: string;
  readonly msg: StunMessage;
  /** Set once the request is authenticated: error responses are then signed too. */
  auth: AuthResult | undefined;
}

/** Writes the attributes of a success response (after the header, before SOFTWARE/integrity/fingerprint). */
export type Reply = (w: StunWriter) => void;

export const EMPTY_REPLY: Reply = () => {};

/** What a handler gives back: a Reply on success, or a Refusal (an expected error response, nothing thrown). */
export type HandlerResult = Reply | Refusal;

export type RequestHandler = (core: TurnCore, ctx: RequestContext) => HandlerResult | Promise<HandlerResult>;

/** A relayed socket bound for an allocation, and for 'even-pair' the reserved next port's token. */
export interface OpenedRelay {
  relay: RelayedSocket;
  reservationToken: Buffer | undefined;
}

export interface TurnCore {
  readonly options: TurnOptions;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: RelayMetrics;
  readonly credentials: CredentialStore;
  readonly nonces: NonceService;
  readonly table: AllocationTable;
  readonly ports: PortAllocator;
  readonly peers: PeerPolicy;
  readonly quota: Quota;
  readonly dataPath: DataPath;
  /** 5-tuple keys with an Allocate in progress (counted as in use: 437). */
  readonly pendingAllocations: Set<string>;
  /** Whether a relay IP of the family is configured. */
  hasRelayFamily(family: 4 | 6): boolean;
  /** Books a port on the next relay IP of `family` and binds a socket wired to the data path (508 if none). */
  openRelayedSocket(allocation: Allocation, family: 4 | 6, request: PortRequest): Promise<OpenedRelay>;
  /** Binds the port a RESERVATION-TOKEN held (already claimed from the PortAllocator). */
  openReservedRelayedSocket(allocation: Allocation, address: string, port: number): Promise<RelayedSocket>;
  /** Enters a fully built allocation into the table. */
  registerAllocation(allocation: Allocation): void;
  /** Channels, permissions or lifetimes of a live allocation changed: tells the flow observer (kernel fast path). */
  flowsChanged(allocation: Allocation): void;
  /** Removes, frees the quota, closes (cascade) and reports an allocation. Idempotent. */
  closeAllocation(allocation: Allocation, reason: CloseReason): void;
  readonly closed: boolean;
}
