/**
 * ERROR-CODE values and their reason phrases: RFC 8489 §14.8, RFC 8656 §19, RFC 6062 §6.3, RFC 8445 §7.3.1.1.
 */

export const StunErrorCode = {
  TryAlternate: 300,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  MobilityForbidden: 405,
  UnknownAttribute: 420,
  AllocationMismatch: 437,
  StaleNonce: 438,
  AddressFamilyNotSupported: 440,
  WrongCredentials: 441,
  UnsupportedTransportProtocol: 442,
  PeerAddressFamilyMismatch: 443,
  ConnectionAlreadyExists: 446,
  ConnectionTimeoutOrFailure: 447,
  AllocationQuotaReached: 486,
  RoleConflict: 487,
  ServerError: 500,
  InsufficientCapacity: 508,
} as const;
export type StunErrorCode = (typeof StunErrorCode)[keyof typeof StunErrorCode];

const PHRASES: ReadonlyMap<number, string> = new Map<number, string>([
  [300, 'Try Alternate'],
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [403, 'Forbidden'],
  [405, 'Mobility Forbidden'],
  [420, 'Unknown Attribute'],
  [437, 'Allocation Mismatch'],
  [438, 'Stale Nonce'],
  [440, 'Address Family not Supported'],
  [441, 'Wrong Credentials'],
  [442, 'Unsupported Transport Protocol'],
  [443, 'Peer Address Family Mismatch'],
  [446, 'Connection Already Exists'],
  [447, 'Connection Timeout or Failure'],
  [486, 'Allocation Quota Reached'],
  [487, 'Role Conflict'],
  [500, 'Server Error'],
  [508, 'Insufficient Capacity'],
]);

/** The RFC reason phrase of a code; for an unregistered code, a generic phrase for its class. */
export function reasonPhrase(code: number): string {
  const p = PHRASES.get(code);
  if (p !== undefined) return p;
  if (code >= 300 && code < 400) return 'Redirect';
  if (code >= 400 && code < 500) return 'Bad Request';
  if (code >= 500 && code < 600) return 'Server Error';
  return 'Error';
}
