import { EventEmitter } from 'node:events';
import type { Logger } from './log.js';

/**
 * A typed emitter over an event map. `safeEmit` never lets a listener that throws
 * break the emitter's caller; the error is logged (error level, with the event's name)
 * on the logger the owner gave `logListenerErrorsTo`, else raised as a process warning
 * (printed on stderr): a listener's failure is never silent.
 * Events mark lifecycle (expired, closed, announced, withdrawn), never single packets.
 */
export type EventMap = Record<string, unknown[]>;

export class TypedEmitter<E extends EventMap> {
  readonly #emitter = new EventEmitter();
  #log: Pick<Logger, 'error'> | undefined;

  /** Where `safeEmit` reports a listener that threw (the owner's component logger). */
  protected logListenerErrorsTo(log: Pick<Logger, 'error'>): void {
    this.#log = log;
  }

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.#emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Resolves with the arguments of the next `event`. */
  wait<K extends keyof E & string>(event: K): Promise<E[K]> {
    return new Promise((resolve) => this.once(event, (...args) => resolve(args)));
  }

  safeEmit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    try {
      return this.#emitter.emit(event, ...args);
    } catch (err) {
      if (this.#log !== undefined) this.#log.error({ err, event }, 'an event listener threw; carrying on');
      else process.emitWarning(`a listener of '${event}' threw: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, 'ListenerError');
      return true;
    }
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.#emitter.listenerCount(event);
  }
}
