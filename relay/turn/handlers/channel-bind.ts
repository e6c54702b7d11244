/**
 * ChannelBind request (RFC 8656 §11.2).
 */
import { AnyturnError } from '../../../src/errors.js';
import { Attr, isValidChannelNumber, readChannelNumber, readXorAddress } from '../../../src/stun/index.js';
import { EMPTY_REPLY, type HandlerResult, type RequestContext, type TurnCore } from '../context.js';
import { Refusal, authenticate, badRequest, existingAllocation, relayForPeer } from './common.js';

export function handleChannelBind(core: TurnCore, ctx: RequestContext): HandlerResult {
  const auth = authenticate(core, ctx);
  if (auth instanceof Refusal) return auth;
  const allocation = existingAllocation(core, ctx, auth);

  // CHANNEL-NUMBER present and in range (0x4000-0x7FFF, see CHANNEL_MAX); XOR-PEER-ADDRESS present (400).
  const number = readChannelNumber(ctx.msg);
  if (number === undefined || number === 'bad-attribute' || !isValidChannelNumber(number)) {
    throw badRequest('missing or invalid CHANNEL-NUMBER');
  }
  const peer = readXorAddress(ctx.msg, Attr.XOR_PEER_ADDRESS);
  if (peer === undefined || peer === 'bad-attribute' || peer.port === 0) throw badRequest('missing or malformed XOR-PEER-ADDRESS');

  // Peer of a relayed family (443), allowed by policy (403).
  const relay = relayForPeer(core, allocation, peer);

  // Room for the peer's permission (508).
  const max = core.options.maxPermissionsPerAllocation ?? 1000;
  if (!allocation.permissionsFit([peer.address], max)) {
    throw new AnyturnError('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', `more than ${max} permissions on one allocation`);
  }

  // Room for a new binding on the allocation and for the user (508, RFC 8656 §11.2: a capacity limit).
  if (allocation.channel(number) === undefined) {
    const maxChannels = core.options.maxChannelsPerAllocation ?? 1000;
    if (allocation.channelCount >= maxChannels) {
      core.metrics.channelRefused('allocation');
      return new Refusal('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', `more than ${maxChannels} channels on one allocation`);
    }
    if (!core.quota.channelFits(auth.username)) {
      core.metrics.channelRefused('user');
      return new Refusal('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', 'the user holds its quota of channels');
    }
  }

  // The number must not be bound to another peer, nor the peer to another number (400).
  const now = core.clock.now();
  const result = allocation.bindChannel(number, peer, relay, now, core.options.channelLifetimeSeconds * 1000);
  if (result !== 'ok') throw badRequest(result);

  // Binding a channel installs or refreshes the permission for the peer's IP.
  allocation.installPermission(peer.address, now, core.options.permissionLifetimeSeconds * 1000);
  core.flowsChanged(allocation);
  return EMPTY_REPLY;
}
