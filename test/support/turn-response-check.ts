/**
 * Judges what a TURN server sent back to a fuzzer: every response must be a well-formed STUN message answering a
 * request that was sent (same transaction id, same method), with an error code RFC 8656 / RFC 8489 allow for that
 * request, the attributes that code or success requires, a valid FINGERPRINT when the request had one, and a valid
 * MESSAGE-INTEGRITY when the request was signed and the server accepted it. Data indications (relayed peer data)
 * are accepted when well formed. Returns the problem as text (undefined: fine).
 */
import {
  Attr,
  Method,
  StunClass,
  decodeStun,
  readErrorCode,
  readString,
  readUint32,
  readUnknownAttributes,
  readXorAddress,
  verifyFingerprint,
  verifyIntegrity,
  type StunMessage,
} from '../../src/stun/index.js';
import type { SentRequest } from './turn-fuzzer.js';

/** Error codes each request may get (RFC 8656 §7.2, §7.3, §9.2, §11.2; 400/401/420/438 from RFC 8489). */
export const ALLOWED_ERROR_CODES: ReadonlyMap<number, ReadonlySet<number>> = new Map([
  [Method.Binding, new Set([400, 420])],
  [Method.Allocate, new Set([400, 401, 403, 420, 437, 438, 440, 442, 486, 508])],
  [Method.Refresh, new Set([400, 401, 420, 437, 438, 441, 443])],
  [Method.CreatePermission, new Set([400, 401, 403, 420, 437, 438, 441, 443, 508])],
  [Method.ChannelBind, new Set([400, 401, 403, 420, 437, 438, 441, 443, 508])],
]);
/** A request of any other method: not understood. */
const OTHER_METHOD_CODES: ReadonlySet<number> = new Set([400, 420]);

export function checkResponse(bytes: Buffer, sent: ReadonlyMap<string, SentRequest>, key: Buffer): { msg?: StunMessage; problem?: string } {
  const msg = decodeStun(bytes);
  if (typeof msg === 'string') return { problem: `not a STUN message (${msg}): ${bytes.subarray(0, 32).toString('hex')}` };
  if (msg.cls === StunClass.Indication) {
    if (msg.method !== Method.Data) return { msg, problem: `unexpected indication, method 0x${msg.method.toString(16)}` };
    const peer = readXorAddress(msg, Attr.XOR_PEER_ADDRESS);
    if (peer === undefined || peer === 'bad-attribute' || !msg.has(Attr.DATA)) return { msg, problem: 'Data indication without XOR-PEER-ADDRESS/DATA' };
    return { msg };
  }
  if (msg.cls === StunClass.Request) return { msg, problem: 'a request from the server' };
  const request = sent.get(msg.transactionId.toString('hex'));
  if (request === undefined) return { msg, problem: 'a response to no request sent' };
  if (msg.method !== request.method) return { msg, problem: `method 0x${msg.method.toString(16)} answers a 0x${request.method.toString(16)} request` };
  if (msg.has(Attr.FINGERPRINT) && verifyFingerprint(msg) !== 'ok') return { msg, problem: 'bad FINGERPRINT' };
  if (request.fingerprint && !msg.has(Attr.FINGERPRINT)) return { msg, problem: 'no FINGERPRINT though the request had one' };
  const hasIntegrity = msg.has(Attr.MESSAGE_INTEGRITY) || msg.has(Attr.MESSAGE_INTEGRITY_SHA256);
  if (hasIntegrity && verifyIntegrity(msg, key) !== 'ok') return { msg, problem: 'MESSAGE-INTEGRITY does not verify' };

  if (msg.cls === StunClass.ErrorResponse) {
    const error = readErrorCode(msg);
    if (error === undefined || error === 'bad-attribute') return { msg, problem: 'error response without a valid ERROR-CODE' };
    const allowed = ALLOWED_ERROR_CODES.get(request.method) ?? OTHER_METHOD_CODES;
    if (!allowed.has(error.code)) return { msg, problem: `error ${error.code} is not allowed for method 0x${request.method.toString(16)}` };
    if ((error.code === 401 || error.code === 438) && (typeof readString(msg, Attr.REALM) !== 'string' || typeof readString(msg, Attr.NONCE) !== 'string')) {
      return { msg, problem: `${error.code} without REALM and NONCE` };
    }
    if (error.code === 420 && !Array.isArray(readUnknownAttributes(msg))) return { msg, problem: '420 without UNKNOWN-ATTRIBUTES' };
    return { msg };
  }

  // Success.
  if (request.method !== Method.Binding && !hasIntegrity) return { msg, problem: 'success without MESSAGE-INTEGRITY' };
  if (request.method !== Method.Binding && !request.signed) return { msg, problem: 'success for a request not signed with the right key and nonce' };
  switch (request.method) {
    case Method.Binding:
      if (readXorAddress(msg, Attr.XOR_MAPPED_ADDRESS) === undefined) return { msg, problem: 'Binding success without XOR-MAPPED-ADDRESS' };
      break;
    case Method.Allocate: {
      const relayed = readXorAddress(msg, Attr.XOR_RELAYED_ADDRESS);
      if (relayed === undefined || relayed === 'bad-attribute') return { msg, problem: 'Allocate success without XOR-RELAYED-ADDRESS' };
      if (typeof readUint32(msg, Attr.LIFETIME) !== 'number') return { msg, problem: 'Allocate success without LIFETIME' };
      if (readXorAddress(msg, Attr.XOR_MAPPED_ADDRESS) === undefined) return { msg, problem: 'Allocate success without XOR-MAPPED-ADDRESS' };
      break;
    }
    case Method.Refresh:
      if (typeof readUint32(msg, Attr.LIFETIME) !== 'number') return { msg, problem: 'Refresh success without LIFETIME' };
      break;
    case Method.CreatePermission:
    case Method.ChannelBind:
      break;
    default:
      return { msg, problem: `success for unknown method 0x${request.method.toString(16)}` };
  }
  return { msg };
}
