/** Answers awaited by transaction id (hex): a test's fuzzer registers one, its receive path hands answers over. */
import type { StunMessage } from '../../src/stun/index.js';

export class AnswerWaiters {
  readonly #waiters = new Map<string, (msg: StunMessage) => void>();

  /** Resolves with the answer to `tid`, or rejects naming `what` after `timeoutMs`. */
  wait(tid: string, what: string, timeoutMs = 5000): Promise<StunMessage> {
    return new Promise<StunMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(tid);
        reject(new Error(`no answer to ${what}`));
      }, timeoutMs);
      this.#waiters.set(tid, (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
    });
  }

  /** Hands `msg` to whoever waits for `tid`; false when nobody does. */
  deliver(tid: string, msg: StunMessage): boolean {
    const waiter = this.#waiters.get(tid);
    if (waiter === undefined) return false;
    this.#waiters.delete(tid);
    waiter(msg);
    return true;
  }
}
