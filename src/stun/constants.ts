/**
 * STUN/TURN protocol constants (RFC 8489, RFC 8656, RFC 6062, RFC 8445, RFC 5780, RFC 8016).
 */

/** RFC 8489 §5: the fixed value in bytes 4..7 of every STUN header. */
export const MAGIC_COOKIE = 0x2112a442;
/** RFC 8489 §5: the STUN header is 20 bytes (type, length, cookie, 96-bit transaction id). */
export const HEADER_LENGTH = 20;
/** Length of the transaction id in bytes. */
export const TRANSACTION_ID_LENGTH = 12;
/** XOR'ed into the CRC-32 of the message to form the FINGERPRINT value (RFC 8489 §14.7). */
export const FINGERPRINT_XOR = 0x5354554e;

/** RFC 8489 §5: the two class bits C1 C0. */
export const StunClass = { Request: 0, Indication: 1, SuccessResponse: 2, ErrorResponse: 3 } as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Methods: RFC 8489 (Binding), RFC 8656 (TURN), RFC 6062 (TURN-TCP). */
export const Method = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
  Connect: 0x00a,
  ConnectionBind: 0x00b,
  ConnectionAttempt: 0x00c,
} as const;
export type Method = (typeof Method)[keyof typeof Method];

/** Attribute types (IANA "STUN Attributes" registry). */
export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c,
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  PADDING: 0x0026,
  RESPONSE_PORT: 0x0027,
  CONNECTION_ID: 0x002a,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  ADDRESS_ERROR_CODE: 0x8001,
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  ICMP: 0x8004,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  TRANSACTION_TRANSMIT_COUNTER: 0x8025,
  CACHE_TIMEOUT: 0x8027,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
  RESPONSE_ORIGIN: 0x802b,
  OTHER_ADDRESS: 0x802c,
} as const;
export type Attr = (typeof Attr)[keyof typeof Attr];

/** RFC 8489 §14: types 0x0000-0x7FFF are comprehension-required. */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

/** Every attribute type this codec knows by name (used for the 420 Unknown Attribute check). */
export const KNOWN_ATTRIBUTES: ReadonlySet<number> = new Set<number>(Object.values(Attr));

/** Transport protocol numbers for REQUESTED-TRANSPORT (RFC 8656 §18.11, RFC 6062 §6.1). */
export const TransportProtocolNumber = { UDP: 17, TCP: 6 } as const;

/** Address family octets used by (XOR-)address attributes and REQUESTED-ADDRESS-FAMILY. */
export const FAMILY_IPV4 = 0x01;
export const FAMILY_IPV6 = 0x02;

/** Encodes the 14-bit STUN message type from a method and a class (RFC 8489 §5, figure 3). */
export function messageType(method: number, cls: StunClass): number {
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((cls & 1) << 4) |
    ((cls & 2) << 7)
  );
}

/** Method bits of a 14-bit message type. */
export function methodOf(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}

/** Class bits of a 14-bit message type. */
export function classOf(type: number): StunClass {
  return (((type >> 4) & 1) | ((type >> 7) & 2)) as StunClass;
}
