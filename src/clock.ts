/** Injected time source so lifetimes can be tested with fake timers. */
export interface Clock {
  /** Milliseconds, monotonic within a process is not required: Date.now() semantics. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
