/**
 * The receiver's duplicate filter for one overlay flow (US 2025/0267097's packet_ID + sliding bitmask): the
 * highest packet id seen and a bitmask of which of the `size` ids up to it arrived. A packet is
 *   'new'        first copy: deliver it,
 *   'duplicate'  its id is in the window and already arrived (the other path's copy, or a replay),
 *   'too-old'    its id is below the window: it cannot be told from a replay, so it is dropped.
 * Reordering inside the window costs nothing: a late id whose bit is clear is still 'new'.
 */

export type DedupVerdict = 'new' | 'duplicate' | 'too-old';

export const DEFAULT_WINDOW = 1024;

export class DedupWindow {
  readonly size: number;
  readonly #bits: Uint32Array;
  #highest = -1;

  /** `size`: ids remembered below the highest; a multiple of 32. */
  constructor(size: number = DEFAULT_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size % 32 !== 0) throw new RangeError('window size must be a multiple of 32, >= 32');
    this.size = size;
    this.#bits = new Uint32Array(size / 32);
  }

  /** The highest id accepted so far (-1 before the first). */
  get highest(): number {
    return this.#highest;
  }

  /** Judges `id` and records it when new. */
  check(id: number): DedupVerdict {
    const highest = this.#highest;
    if (id > highest) {
      const ahead = id - highest;
      if (highest < 0 || ahead >= this.size) this.#bits.fill(0);
      else for (let k = highest + 1; k < id; k++) this.#clear(k);
      this.#highest = id;
      this.#set(id);
      return 'new';
    }
    if (highest - id >= this.size) return 'too-old';
    if (this.#isSet(id)) return 'duplicate';
    this.#set(id);
    return 'new';
  }

  #slot(id: number): number {
    return id % this.size;
  }

  #set(id: number): void {
    const s = this.#slot(id);
    this.#bits[s >>> 5] |= 1 << (s & 31);
  }

  #clear(id: number): void {
    const s = this.#slot(id);
    this.#bits[s >>> 5] &= ~(1 << (s & 31));
  }

  #isSet(id: number): boolean {
    const s = this.#slot(id);
    return (this.#bits[s >>> 5] & (1 << (s & 31))) !== 0;
  }
}
