/**
 * Random and mutated datagrams for the malformed-input floods. Seeded (xorshift32), so a failure replays with
 * the same seed. `next()` returns, in proportion: pure noise, a STUN header with the right cookie and random
 * attributes, a ChannelData header with random channel and length, and mutations of the valid `seeds` (bit flips,
 * byte overwrites, truncation, trailing garbage).
 */

/** Deterministic PRNG in [0, 1). */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

export class DatagramFuzzer {
  readonly #rand: () => number;
  readonly #seeds: readonly Buffer[];

  constructor(seed: number, seeds: readonly Buffer[]) {
    if (seeds.length === 0) throw new Error('DatagramFuzzer needs at least one seed datagram');
    this.#rand = xorshift32(seed);
    this.#seeds = seeds;
  }

  /** A random integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.#rand() * n);
  }

  #noise(length: number): Buffer {
    const b = Buffer.allocUnsafe(length);
    for (let i = 0; i < b.length; i++) b[i] = this.int(256);
    return b;
  }

  next(): Buffer {
    const kind = this.int(10);
    if (kind === 0) return this.#noise(this.int(1500));
    if (kind === 1) {
      const n = this.int(300);
      const b = this.#noise(20 + n);
      b[0] &= 0x3f;
      b.writeUInt32BE(0x2112a442, 4);
      b.writeUInt16BE(this.#rand() < 0.7 ? n & ~3 : this.int(65536), 2);
      return b;
    }
    if (kind === 2) {
      const b = this.#noise(4 + this.int(200));
      b[0] = 0x40 | (b[0] & 0x3f);
      return b;
    }
    let b = Buffer.from(this.#seeds[this.int(this.#seeds.length)]);
    const edits = 1 + this.int(4);
    for (let k = 0; k < edits; k++) {
      const op = this.int(4);
      if (op === 0 && b.length > 0) b[this.int(b.length)] ^= 1 << this.int(8);
      else if (op === 1 && b.length > 0) b[this.int(b.length)] = this.int(256);
      else if (op === 2) b = b.subarray(0, this.int(b.length + 1));
      else b = Buffer.concat([b, Buffer.alloc(this.int(16), this.int(256))]);
    }
    return b;
  }
}
