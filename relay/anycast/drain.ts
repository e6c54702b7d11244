/**
 * Draining: the relay stops answering Allocates on the anycast address (it never wins a race again), while its
 * existing allocations carry on until they end. Binding on G is still answered (it allocates nothing, and clients
 * that use G as a plain STUN server keep working). Set by SIGUSR1 or `POST /drain` (wired by relay/main.ts);
 * `undrain()` (`POST /undrain`, SIGUSR2) puts the relay back in the race.
 */
import { TypedEmitter } from '../../src/events.js';

export type DrainEvents = {
  /** The state changed: true = now draining. */
  changed: [draining: boolean];
};

export class DrainState extends TypedEmitter<DrainEvents> {
  #draining: boolean;

  constructor(draining = false) {
    super();
    this.#draining = draining;
  }

  get isDraining(): boolean {
    return this.#draining;
  }

  /** Idempotent; emits `changed` only on a change. */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    this.safeEmit('changed', true);
  }

  undrain(): void {
    if (!this.#draining) return;
    this.#draining = false;
    this.safeEmit('changed', false);
  }
}
