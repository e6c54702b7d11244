/**
 * Allocate request (RFC 8656 §7.2), step by step. Every check returns early with its error code; only when all
 * pass are ports booked and sockets bound (the one asynchronous part).
 */
import { AnyturnError } from '../../../src/errors.js';
import {
  Attr,
  FAMILY_IPV4,
  FAMILY_IPV6,
  TransportProtocolNumber,
  readEvenPort,
  readRequestedAddressFamily,
  readRequestedTransport,
  readReservationToken,
  readUint32,
  reasonPhrase,
  type TransportAddress,
} from '../../../src/stun/index.js';
import { Allocation } from '../allocation.js';
import type { AuthResult } from '../auth-check.js';
import type { HandlerResult, Reply, RequestContext, TurnCore } from '../context.js';
import { familyOf } from '../five-tuple.js';
import type { PortRequest } from '../port-allocator.js';
import type { Admission, Quota } from '../quota.js';
import { Refusal, authenticate, badRequest, grantedLifetimeSeconds } from './common.js';

export function handleAllocate(core: TurnCore, ctx: RequestContext): HandlerResult | Promise<HandlerResult> {
  // 1. The request must be authenticated (400 / 401 / 438). Answered synchronously, without an exception: the
  //    first Allocate of every client is refused with 401 (it has no credentials yet).
  const auth = authenticate(core, ctx);
  if (auth instanceof Refusal) return auth;
  return allocateAuthenticated(core, ctx, auth);
}

async function allocateAuthenticated(core: TurnCore, ctx: RequestContext, auth: AuthResult): Promise<Reply> {
  const { msg } = ctx;

  // 2. The 5-tuple must not be in use by an allocation (a retransmit never gets here: the retransmit cache
  //    answered it with the first response). An allocation that expired but was not swept yet is ended now.
  const existing = core.table.find(ctx.transport, ctx.clientAddress, ctx.clientPort);
  if (existing !== undefined && existing.isExpired(core.clock.now())) core.closeAllocation(existing, 'expired');
  else if (existing !== undefined || core.pendingAllocations.has(ctx.key)) {
    throw new AnyturnError('ATN_ERR_TURN_ALLOCATION_MISMATCH', 'this 5-tuple already has an allocation');
  }

  // 3. REQUESTED-TRANSPORT present and well formed (400), and UDP (442).
  const protocol = readRequestedTransport(msg);
  if (protocol === undefined || protocol === 'bad-attribute') throw badRequest('missing or malformed REQUESTED-TRANSPORT');
  if (protocol !== TransportProtocolNumber.UDP) {
    throw new AnyturnError('ATN_ERR_TURN_UNSUPPORTED_TRANSPORT', `transport protocol ${protocol} is not relayed`);
  }

  // 4. DONT-FRAGMENT is supported: relayed sockets use Linux's default path MTU discovery (IP_PMTUDISC_WANT),
  //    which sends datagrams that fit the path MTU with DF set. Nothing to do.

  const evenPort = readEvenPort(msg);
  const requestedFamily = readRequestedAddressFamily(msg);
  const additionalFamily = readRequestedAddressFamily(msg, Attr.ADDITIONAL_ADDRESS_FAMILY);
  const token = readReservationToken(msg);
  const lifetime = readUint32(msg, Attr.LIFETIME);
  if (evenPort === 'bad-attribute') throw badRequest('malformed EVEN-PORT');
  if (requestedFamily === 'bad-attribute') throw badRequest('malformed REQUESTED-ADDRESS-FAMILY');
  if (additionalFamily === 'bad-attribute') throw badRequest('malformed ADDITIONAL-ADDRESS-FAMILY');
  if (token === 'bad-attribute') throw badRequest('malformed RESERVATION-TOKEN');
  if (lifetime === 'bad-attribute') throw badRequest('malformed LIFETIME');

  // 5. RESERVATION-TOKEN excludes EVEN-PORT and the address family attributes (400); it must name a live
  //    reservation (508). Checked here, claimed once the quota admits the allocation (at the same `now`).
  if (token !== undefined && (evenPort !== undefined || requestedFamily !== undefined || additionalFamily !== undefined)) {
    throw badRequest('RESERVATION-TOKEN with EVEN-PORT or an address family attribute');
  }
  const now = core.clock.now();
  const reservationHolder = token === undefined ? undefined : core.ports.holderOf(token, now);
  if (token !== undefined && reservationHolder === undefined) {
    throw new AnyturnError('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', 'the RESERVATION-TOKEN is unknown or expired');
  }

  // 6. REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY together (400).
  if (requestedFamily !== undefined && additionalFamily !== undefined) {
    throw badRequest('both REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY');
  }

  // 7. The family asked for (IPv4 by default) must have a relay address (440).
  const family: 4 | 6 = requestedFamily ?? 4;
  if (token === undefined && !core.hasRelayFamily(family)) {
    throw new AnyturnError('ATN_ERR_TURN_ADDRESS_FAMILY_UNSUPPORTED', `no IPv${family} relay address`);
  }

  // 9. ADDITIONAL-ADDRESS-FAMILY may only ask for IPv6 (400); without an IPv6 relay address the IPv4 one is
  //    still allocated and ADDRESS-ERROR-CODE 440 tells the client why IPv6 is missing.
  if (additionalFamily === 4) throw badRequest('ADDITIONAL-ADDRESS-FAMILY must be IPv6');
  const dual = additionalFamily === 6 && core.hasRelayFamily(6);
  const addressError = additionalFamily === 6 && !dual ? { family: 6 as const, code: 440 } : undefined;

  // 10. Relay capacity (508) and the user's allocation quota (486). A held reservation counts as an allocation of
  //     its holder: EVEN-PORT R=1 needs two slots (the allocation and the reserved port) until the reservation is
  //     claimed (the claiming Allocate takes its slot over) or expires (30 s, the slot is given back).
  const reservePair = evenPort !== undefined && evenPort.reserve;
  admit(core.quota, auth.username, reservationHolder, reservePair);

  // Build the allocation: the reserved port, or ports from the range (8. EVEN-PORT unsatisfiable → 508).
  const seconds = grantedLifetimeSeconds(lifetime === 0 ? undefined : lifetime, core);
  const allocation = new Allocation({
    transport: ctx.transport,
    clientAddress: ctx.clientAddress,
    clientPort: ctx.clientPort,
    username: auth.username,
    nowMs: now,
    lifetimeMs: seconds * 1000,
    bucketBytes: core.options.maxBytesPerSecond,
    ledger: core.quota,
  });
  core.pendingAllocations.add(ctx.key);
  let reservationToken: Buffer | undefined;
  try {
    if (token !== undefined) {
      const reserved = core.ports.claim(token, now);
      if (reserved === undefined) {
        throw new AnyturnError('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', 'the RESERVATION-TOKEN is unknown or expired');
      }
      allocation.relayedSockets.push(await core.openReservedRelayedSocket(allocation, reserved.address, reserved.port));
    } else {
      const request: PortRequest = evenPort === undefined ? 'any' : evenPort.reserve ? 'even-pair' : 'even';
      const opened = await core.openRelayedSocket(allocation, family, request);
      allocation.relayedSockets.push(opened.relay);
      reservationToken = opened.reservationToken;
      if (dual) allocation.relayedSockets.push((await core.openRelayedSocket(allocation, 6, 'any')).relay);
    }
    if (core.closed) throw new AnyturnError('ATN_ERR_INVALID_STATE', 'the server closed during the Allocate');
  } catch (err) {
    allocation.close();
    core.quota.release(auth.username);
    if (reservePair) {
      if (reservationToken !== undefined) core.ports.cancel(reservationToken);
      core.quota.release(auth.username);
    }
    throw err;
  } finally {
    core.pendingAllocations.delete(ctx.key);
  }
  core.registerAllocation(allocation);

  // Success: XOR-RELAYED-ADDRESS (one or two), ADDRESS-ERROR-CODE, LIFETIME, RESERVATION-TOKEN, XOR-MAPPED-ADDRESS.
  // The relayed addresses are the advertised ones: behind 1:1 NAT (external-ip) the public address, while the
  // socket stays bound on the private one. XOR-MAPPED-ADDRESS is what we saw, never mapped.
  const relayed = allocation.relayedAddresses;
  const mapped: TransportAddress = { family: familyOf(ctx.clientAddress), address: ctx.clientAddress, port: ctx.clientPort };
  return (w) => {
    for (const r of relayed) w.addXorAddress(Attr.XOR_RELAYED_ADDRESS, r);
    if (addressError !== undefined) w.addBytes(Attr.ADDRESS_ERROR_CODE, addressErrorValue(addressError.family, addressError.code));
    w.addUint32(Attr.LIFETIME, seconds);
    if (reservationToken !== undefined) w.addBytes(Attr.RESERVATION_TOKEN, reservationToken);
    w.addXorAddress(Attr.XOR_MAPPED_ADDRESS, mapped);
  };
}

/**
 * Counts the new allocation against the quota: a slot of its own, or the slot of the reservation it claims; with
 * `reservePair`, a second slot for the reservation it makes. Throws 508 / 486 with nothing counted.
 */
function admit(quota: Quota, username: string, reservationHolder: string | undefined, reservePair: boolean): void {
  refuseUnless(reservationHolder === undefined ? quota.admit(username) : quota.transfer(reservationHolder, username));
  if (!reservePair) return;
  const second = quota.admit(username);
  if (second !== 'ok') {
    quota.release(username);
    refuseUnless(second, ' (a held reservation counts as one)');
  }
}

function refuseUnless(admission: Admission, why = ''): void {
  switch (admission) {
    case 'ok':
      return;
    case 'capacity':
      throw new AnyturnError('ATN_ERR_TURN_INSUFFICIENT_CAPACITY', `the relay is at capacity${why}`);
    case 'user-quota':
      throw new AnyturnError('ATN_ERR_TURN_QUOTA_REACHED', `the user has too many allocations${why}`);
  }
}

/** ADDRESS-ERROR-CODE value (RFC 8656 §18.13): family, reserved, class, number, reason phrase. */
export function addressErrorValue(family: 4 | 6, code: number): Buffer {
  const reason = Buffer.from(reasonPhrase(code), 'utf8');
  const v = Buffer.alloc(4 + reason.length);
  v[0] = family === 6 ? FAMILY_IPV6 : FAMILY_IPV4;
  v[2] = Math.floor(code / 100) & 0x07;
  v[3] = code % 100;
  reason.copy(v, 4);
  return v;
}
