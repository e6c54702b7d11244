/**
 * Steps shared by the TURN request handlers: authentication, finding the client's allocation (437, 441),
 * lifetimes (RFC 8656 §7.2/§7.3) and peer checks (443, 403).
 */
import { AnyturnError } from '../../../src/errors.js';
import type { TransportAddress } from '../../../src/stun/index.js';
import type { Allocation } from '../allocation.js';
import { Refusal, tryLongTermAuth, type AuthResult } from '../auth-check.js';
import type { RequestContext, TurnCore } from '../context.js';
import type { RelayedSocket } from '../relayed-socket.js';

export { Refusal };

export function badRequest(reason: string): AnyturnError {
  return new AnyturnError('ATN_ERR_STUN_BAD_REQUEST', reason);
}

/**
 * Long-term authentication; on success the context remembers it so that every response gets signed. A Refusal
 * (400/401/438) is returned, not thrown: the handler returns it as is.
 */
export function authenticate(core: TurnCore, ctx: RequestContext): AuthResult | Refusal {
  const auth = tryLongTermAuth(ctx.msg, {
    realm: core.options.realm,
    credentials: core.credentials,
    nonces: core.nonces,
    nowMs: core.clock.now(),
  });
  if (auth instanceof Refusal) return auth;
  ctx.auth = auth;
  return auth;
}

/** The live allocation of the request's 5-tuple (437 if none) created by the same user (441 if not). */
export function existingAllocation(core: TurnCore, ctx: RequestContext, auth: AuthResult): Allocation {
  const allocation = core.table.find(ctx.transport, ctx.clientAddress, ctx.clientPort);
  if (allocation === undefined || allocation.isExpired(core.clock.now())) {
    throw new AnyturnError('ATN_ERR_TURN_ALLOCATION_MISMATCH', 'no allocation for this 5-tuple');
  }
  if (allocation.username !== auth.username) {
    throw new AnyturnError('ATN_ERR_TURN_WRONG_CREDENTIALS', 'the allocation belongs to another username');
  }
  return allocation;
}

/**
 * RFC 8656 §7.2/§7.3 "desired lifetime": without LIFETIME, the default; else min(requested, max), raised to the
 * default when lower. (A LIFETIME of 0 in a Refresh deletes; the caller handles that before.)
 */
export function grantedLifetimeSeconds(requested: number | undefined, core: TurnCore): number {
  const { defaultLifetimeSeconds, maxLifetimeSeconds } = core.options;
  if (requested === undefined) return defaultLifetimeSeconds;
  const bounded = Math.min(requested, maxLifetimeSeconds);
  return bounded > defaultLifetimeSeconds ? bounded : defaultLifetimeSeconds;
}

/** The relayed socket a peer is reached from: 443 when the allocation has no relay of its family, 403 by policy. */
export function relayForPeer(core: TurnCore, allocation: Allocation, peer: TransportAddress): RelayedSocket {
  const relay = allocation.relayFor(peer.family);
  if (relay === undefined) {
    throw new AnyturnError('ATN_ERR_TURN_PEER_FAMILY_MISMATCH', `no IPv${peer.family} relayed address`);
  }
  if (!core.peers.isAllowed(peer.address, peer.family)) {
    throw new AnyturnError('ATN_ERR_TURN_FORBIDDEN', 'the peer address is refused by the peer policy');
  }
  return relay;
}
