/**
 * Binding request (RFC 8489 §3, §6.3.1): answered on every transport with the client's reflexive transport
 * address in XOR-MAPPED-ADDRESS. No authentication, no state.
 */
import { Attr, type TransportAddress } from '../../../src/stun/index.js';
import type { Reply, RequestContext, TurnCore } from '../context.js';
import { familyOf } from '../five-tuple.js';

export function handleBinding(_core: TurnCore, ctx: RequestContext): Reply {
  const mapped: TransportAddress = { family: familyOf(ctx.clientAddress), address: ctx.clientAddress, port: ctx.clientPort };
  return (w) => {
    w.addXorAddress(Attr.XOR_MAPPED_ADDRESS, mapped);
  };
}
