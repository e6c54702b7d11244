/**
 * One async pass at a time, for the agent's loops (the reconcile loop in agent.ts, the BGP
 * loop in announcer.ts): passes never overlap, and requests made during a pass queue
 * exactly one more. A pass that throws is handed to `onError` and does not stop later ones.
 */
export class CoalescedRunner {
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(
    private readonly pass: () => Promise<unknown>,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Asks for a pass (coalesced with one already queued). No-op after stop(). */
  request(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop();
  }

  /** Resolves when no pass is running or queued. */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** No pass starts after the one running; resolves when that one is done. */
  stop(): Promise<void> {
    this.#stopped = true;
    return this.idle();
  }

  async #loop(): Promise<void> {
    try {
      do {
        this.#again = false;
        try {
          await this.pass();
        } catch (err) {
          this.onError(err);
        }
      } while (this.#again && !this.#stopped);
    } finally {
      this.#running = undefined;
    }
  }
}
