import { createHash } from 'node:crypto';

/**
 * The long-term credential key of RFC 8489 §9.2.2 (MESSAGE-INTEGRITY):
 * MD5(username ":" realm ":" password), UTF-8. The same key is used for
 * MESSAGE-INTEGRITY-SHA256 when no PASSWORD-ALGORITHM is negotiated.
 */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest();
}
