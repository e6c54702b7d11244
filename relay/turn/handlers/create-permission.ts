/**
 * CreatePermission request (RFC 8656 §9.2): one or more XOR-PEER-ADDRESS; all are checked before any is
 * installed, so the request succeeds or fails as a whole.
 */
import { AnyturnError } from '../../../src/errors.js';
import { Attr, readXorAddresses } from '../../../src/stun/index.js';
import { EMPTY_REPLY, type HandlerResult, type RequestContext, type TurnCore } from '../context.js';
import { Refusal, authenticate, badRequest, existingAllocation, relayForPeer } from './common.js';

export function handleCreatePermission(core: TurnCore, ctx: RequestContext): HandlerResult {
  const auth = authenticate(core, ctx);
  if (auth instanceof Refusal) return auth;
  const allocation = existingAllocation(core, ctx, auth);

  // At least one XOR-PEER-ADDRESS, all well formed (400).
  const peers = readXorAddresses(ctx.msg, Attr.XOR_PEER_ADDRESS);
  if (peers === 'bad-attribute') throw badRequest('malformed XOR-PEER-ADDRESS');
  if (peers.length === 0) throw badRequest('no XOR-PEER-ADDRESS');

  // Every peer of a relayed family (443) and allowed by the peer policy (403).
  for (const peer of peers) relayForPeer(core, allocation, peer);

  // Room for the new ones (508): one client must not grow the relay's memory without bound.
  const max = core.options.maxPermissionsPerAllocation ?? 1000;
  if (!allocation.permissionsFit(peers.map((p) => p.address), max)) {
    throw new AnyturnError('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', `more than ${max} permissions on one allocation`);
  }

  // Install or refresh each permission (300 s).
  const now = core.clock.now();
  const lifetimeMs = core.options.permissionLifetimeSeconds * 1000;
  for (const peer of peers) allocation.installPermission(peer.address, now, lifetimeMs);
  core.flowsChanged(allocation);
  return EMPTY_REPLY;
}
