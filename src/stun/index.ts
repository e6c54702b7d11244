/** The anyturn STUN/TURN codec: zero-copy decoding, single-buffer encoding. */
export * from './constants.js';
export * from './transport-address.js';
export * from './message.js';
export * from './xor-address.js';
export * from './attributes.js';
export * from './writer.js';
export * from './integrity.js';
export * from './fingerprint.js';
export * from './channel-data.js';
export * from './error-code.js';
