/**
 * Every failure an operator can see has a stable code (ATN_ERR_<AREA>_<WHAT>).
 * The list below is the single source of truth: docs/errors.md documents every
 * entry and test/unit/src/errors.test.ts fails when the two disagree, or when a
 * code is raised nowhere.
 *
 * To add an error: add an entry here, raise it, document it in docs/errors.md.
 */

export const ERROR_CODES = {
  ATN_ERR_CONFIG_INVALID: { stunCode: undefined, summary: 'a configuration value is invalid' },
  ATN_ERR_CONFIG_FILE: { stunCode: undefined, summary: 'the configuration file cannot be read or parsed' },
  ATN_ERR_CLI_USAGE: { stunCode: undefined, summary: 'the command line is wrong' },
  ATN_ERR_LISTEN_BIND: { stunCode: undefined, summary: 'a listener cannot bind its address' },
  ATN_ERR_STUN_BAD_REQUEST: { stunCode: 400, summary: 'the request is malformed' },
  ATN_ERR_AUTH_UNAUTHORIZED: { stunCode: 401, summary: 'credentials are missing or wrong' },
  ATN_ERR_AUTH_STALE_NONCE: { stunCode: 438, summary: 'the nonce has expired' },
  ATN_ERR_TURN_FORBIDDEN: { stunCode: 403, summary: 'the peer address is refused by the peer policy' },
  ATN_ERR_STUN_ENCODE: { stunCode: undefined, summary: 'a STUN message cannot be encoded (bad address or value from the caller)' },
  ATN_ERR_TURN_ALLOCATION_MISMATCH: { stunCode: 437, summary: 'the request does not fit the allocation state' },
  ATN_ERR_TURN_WRONG_CREDENTIALS: { stunCode: 441, summary: 'the credentials differ from the allocation\'s' },
  ATN_ERR_TURN_UNSUPPORTED_TRANSPORT: { stunCode: 442, summary: 'the requested transport is not supported' },
  ATN_ERR_TURN_PEER_FAMILY_MISMATCH: { stunCode: 443, summary: 'the peer address family does not match the relay' },
  ATN_ERR_TURN_ADDRESS_FAMILY_UNSUPPORTED: { stunCode: 440, summary: 'the address family is not supported' },
  ATN_ERR_TURN_QUOTA_REACHED: { stunCode: 486, summary: 'the allocation quota is reached' },
  ATN_ERR_TURN_INSUFFICIENT_CAPACITY: { stunCode: 508, summary: 'the relay has no capacity left' },
  ATN_ERR_CLUSTER_UNAVAILABLE: { stunCode: undefined, summary: 'the cluster store cannot be reached' },
  ATN_ERR_AGENT_COMMAND: { stunCode: undefined, summary: 'a system command run by the router agent failed' },
  ATN_ERR_BIRD_CONTROL: { stunCode: undefined, summary: 'BIRD did not accept a control command' },
  ATN_ERR_LAB_SETUP: { stunCode: undefined, summary: 'the lab could not be built' },
  ATN_ERR_INVALID_STATE: { stunCode: undefined, summary: 'the object is closed or in the wrong state' },
  ATN_ERR_UDP_IO_UNAVAILABLE: { stunCode: undefined, summary: 'udp-io: native, but the native datagram engine is not available' },
  ATN_ERR_OFFLOAD_UNAVAILABLE: { stunCode: undefined, summary: 'offload: on, but the eBPF kernel fast path cannot be attached' },
} as const satisfies Record<string, { stunCode: number | undefined; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AnyturnError extends Error {
  readonly code: ErrorCode;
  readonly stunCode: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AnyturnError';
    this.code = code;
    this.stunCode = ERROR_CODES[code].stunCode;
  }
}

export function isAnyturnError(err: unknown): err is AnyturnError {
  return err instanceof AnyturnError;
}

/** Exhaustiveness guard for `switch` over literal unions. */
export function assertNever(value: never): never {
  throw new AnyturnError('ATN_ERR_INVALID_STATE', `unexpected value: ${String(value)}`);
}
