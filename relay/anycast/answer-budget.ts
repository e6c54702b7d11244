/**
 * The byte budget of unauthenticated answers on the anycast address: what keeps a PoP from being a reflector at
 * any source spread (the per-source buckets in rate-limit.ts bound what one victim receives, not the ratio).
 *
 * Every relay of the PoP receives every datagram sent to G; each earns its share (1 / relays in the race group)
 * of `earnRatio` times the bytes of the requests, and may send an unauthenticated answer (Binding response, 401,
 * 438, 437, 400, the fast-mode 300) only while its balance covers the answer's size. So the PoP sends at most
 * earnRatio x the bytes it received, plus one burst per relay (`burstBytes`), whatever the number of sources.
 * An allocation made on the relay (proof that a real client followed an earlier answer) refunds `refundBytes`, so
 * legitimate traffic keeps the balance full even though a 401 is larger than the Allocate that asked for it.
 *
 * Retransmissions first: a first copy of a request may only spend what lies above `reserveBytes`; a copy the PoP
 * has seen before (a real client retransmits, a spoofed flood of fresh requests does not) may spend it all. Under
 * a flood the balance hovers around the reserve, so a real client's retransmission is answered.
 *
 * Answers to requests whose MESSAGE-INTEGRITY verified (the 300 of strict mode) and stream transports (TCP/TLS
 * cannot be spoofed) are not budgeted. Pure and O(1).
 */
export interface AnswerBudgetOptions {
  /** Most bytes the balance holds (and starts with); 0 = no budget (every answer allowed). */
  burstBytes: number;
  /** Bytes given back per allocation made on this relay. */
  refundBytes: number;
  /** Bytes kept for retransmitted requests. */
  reserveBytes: number;
  /** Answer bytes earned per request byte received (<= 1: the PoP never sends more than it receives). */
  earnRatio: number;
}

export const DEFAULT_ANSWER_BUDGET: Readonly<AnswerBudgetOptions> = Object.freeze({
  burstBytes: 2048,
  refundBytes: 160,
  reserveBytes: 512,
  earnRatio: 0.75,
});

export class AnswerBudget {
  readonly #burst: number;
  readonly #refund: number;
  readonly #reserve: number;
  readonly #earnRatio: number;
  #balance: number;

  constructor(options: AnswerBudgetOptions = DEFAULT_ANSWER_BUDGET) {
    this.#burst = Math.max(0, options.burstBytes);
    this.#refund = Math.max(0, options.refundBytes);
    this.#reserve = Math.max(0, Math.min(options.reserveBytes, this.#burst));
    this.#earnRatio = Math.max(0, Math.min(1, options.earnRatio));
    this.#balance = this.#burst;
  }

  get balance(): number {
    return this.#balance;
  }

  /** A request of `bytes` arrived on G, heard by `relays` relays of the PoP (this one included). */
  earn(bytes: number, relays: number): void {
    this.#balance = Math.min(this.#burst, this.#balance + (this.#earnRatio * bytes) / (relays > 1 ? relays : 1));
  }

  /** Takes `bytes` for an answer; false (nothing taken) when the balance does not cover it (and the reserve). */
  trySpend(bytes: number, retransmission = false): boolean {
    if (this.#burst === 0) return true;
    if (this.#balance - bytes < (retransmission ? 0 : this.#reserve)) return false;
    this.#balance -= bytes;
    return true;
  }

  /** An allocation was made on this relay. */
  refund(): void {
    this.#balance = Math.min(this.#burst, this.#balance + this.#refund);
  }
}
