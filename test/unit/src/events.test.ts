import { describe, expect, it, vi } from 'vitest';
import { TypedEmitter } from '../../../src/events.js';

type Events = { changed: [value: number] };

class Logged extends TypedEmitter<Events> {
  readonly errors: { fields: Record<string, unknown>; msg: string }[] = [];
  constructor() {
    super();
    this.logListenerErrorsTo({ error: (fields: Record<string, unknown>, msg: string) => void this.errors.push({ fields, msg }) } as never);
  }
}

describe('TypedEmitter.safeEmit', () => {
  it('logs a listener that throws on the owner\'s logger, with the event, and carries on', () => {
    const e = new Logged();
    const boom = new Error('listener bug');
    e.on('changed', () => {
      throw boom;
    });
    expect(e.safeEmit('changed', 1)).toBe(true);
    expect(e.errors).toEqual([{ fields: { err: boom, event: 'changed' }, msg: 'an event listener threw; carrying on' }]);
  });

  it('without a logger, raises a process warning naming the event (never silent)', () => {
    const e = new TypedEmitter<Events>();
    e.on('changed', () => {
      throw new Error('listener bug');
    });
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      expect(e.safeEmit('changed', 2)).toBe(true);
      expect(warn).toHaveBeenCalledTimes(1);
      const [message, type] = warn.mock.calls[0] as [string, string];
      expect(type).toBe('ListenerError');
      expect(message).toContain("a listener of 'changed' threw: Error: listener bug");
    } finally {
      warn.mockRestore();
    }
  });

  it('returns whether anyone listened when nothing throws', () => {
    const e = new TypedEmitter<Events>();
    expect(e.safeEmit('changed', 3)).toBe(false);
    const seen: number[] = [];
    e.on('changed', (v) => void seen.push(v));
    expect(e.safeEmit('changed', 4)).toBe(true);
    expect(seen).toEqual([4]);
  });
});
