/**
 * Refresh request (RFC 8656 §7.3).
 */
import { AnyturnError } from '../../../src/errors.js';
import { Attr, readRequestedAddressFamily, readUint32 } from '../../../src/stun/index.js';
import type { HandlerResult, RequestContext, TurnCore } from '../context.js';
import { Refusal, authenticate, badRequest, existingAllocation, grantedLifetimeSeconds } from './common.js';

export function handleRefresh(core: TurnCore, ctx: RequestContext): HandlerResult {
  const { msg } = ctx;
  // The request is authenticated and must come from the allocation's 5-tuple and user (437, 441).
  const auth = authenticate(core, ctx);
  if (auth instanceof Refusal) return auth;
  const allocation = existingAllocation(core, ctx, auth);

  // REQUESTED-ADDRESS-FAMILY must name a family of the allocation (443).
  const family = readRequestedAddressFamily(msg);
  if (family === 'bad-attribute') throw badRequest('malformed REQUESTED-ADDRESS-FAMILY');
  if (family !== undefined && allocation.relayFor(family) === undefined) {
    throw new AnyturnError('ATN_ERR_TURN_PEER_FAMILY_MISMATCH', `the allocation has no IPv${family} relayed address`);
  }

  const requested = readUint32(msg, Attr.LIFETIME);
  if (requested === 'bad-attribute') throw badRequest('malformed LIFETIME');

  // A desired lifetime of zero deletes the allocation (or, in a dual allocation, the named family only).
  if (requested === 0) {
    if (family !== undefined && allocation.relayedSockets.length > 1) {
      allocation.removeRelayedSocket(family);
      core.flowsChanged(allocation);
    } else {
      core.closeAllocation(allocation, 'deleted');
    }
    return (w) => {
      w.addUint32(Attr.LIFETIME, 0);
    };
  }

  const seconds = grantedLifetimeSeconds(requested, core);
  allocation.refresh(core.clock.now(), seconds * 1000);
  core.flowsChanged(allocation);
  return (w) => {
    w.addUint32(Attr.LIFETIME, seconds);
  };
}
