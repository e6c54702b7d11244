/**
 * The overlay keyring: the cluster's overlay keys (held in the cluster store, newest first, added and retired like
 * the REST secrets: `anyturn secret add --overlay`). Packets are signed with the newest key; a packet is accepted
 * when its MAC verifies under the key its key id names (two live keys sharing an id are both tried). A key retired
 * cluster-wide stops verifying at once on every relay that heard of it.
 *
 * The MAC is HMAC-SHA256 truncated to 16 bytes (wire.ts) over every byte before it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { MAC_LENGTH } from './wire.js';

interface Key {
  id: number;
  secret: Buffer;
}

/** The one-byte key id of a key: the first byte of its SHA-256. */
export function overlayKeyId(secret: string | Buffer): number {
  return createHash('sha256').update(secret).digest()[0];
}

export class OverlayKeyring {
  #keys: Key[] = [];

  /** Replaces the keys (newest first). */
  setKeys(secrets: readonly string[]): void {
    this.#keys = secrets.map((s) => ({ id: overlayKeyId(s), secret: Buffer.from(s, 'utf8') }));
  }

  get size(): number {
    return this.#keys.length;
  }

  /** The id of the signing key (the newest); undefined without keys. */
  get signingKeyId(): number | undefined {
    return this.#keys[0]?.id;
  }

  /** The MAC of `parts` under the newest key (undefined without keys). */
  sign(parts: readonly Buffer[]): Buffer | undefined {
    const key = this.#keys[0];
    if (key === undefined) return undefined;
    return mac(key.secret, parts);
  }

  /** 'ok', 'unknown-key' (no live key has this id) or 'bad-mac'. */
  verify(keyId: number, signed: Buffer, received: Buffer): 'ok' | 'unknown-key' | 'bad-mac' {
    let known = false;
    for (const key of this.#keys) {
      if (key.id !== keyId) continue;
      known = true;
      const expected = mac(key.secret, [signed]);
      if (received.length === MAC_LENGTH && timingSafeEqual(expected, received)) return 'ok';
    }
    return known ? 'bad-mac' : 'unknown-key';
  }
}

function mac(secret: Buffer, parts: readonly Buffer[]): Buffer {
  const h = createHmac('sha256', secret);
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, MAC_LENGTH);
}
