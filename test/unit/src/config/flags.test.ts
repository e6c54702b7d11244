import { describe, expect, it } from 'vitest';
import { formatUsage, parseFlags, wantsHelp, type FlagsSpec } from '../../../../src/config/flags.js';
import { AnyturnError } from '../../../../src/errors.js';
import { anyturnError } from './fixtures.js';

const SPEC = {
  name: { type: 'string' },
  port: { type: 'number' },
  tcp: { type: 'boolean' },
  listen: { type: 'string', repeatable: true },
  weight: { type: 'number', repeatable: true },
} as const satisfies FlagsSpec;

function usageError(fn: () => unknown): AnyturnError {
  return anyturnError(fn, 'ATN_ERR_CLI_USAGE');
}

describe('parseFlags', () => {
  it('reads --flag value and --flag=value with types', () => {
    expect(parseFlags(['--name', 'a', '--port=3478'], SPEC)).toEqual({ name: 'a', port: 3478 });
    expect(parseFlags(['--name=x=y', '--port', '-1.5'], SPEC)).toEqual({ name: 'x=y', port: -1.5 });
    expect(parseFlags(['--name='], SPEC)).toEqual({ name: '' });
  });

  it('returns only the flags given', () => {
    expect(parseFlags([], SPEC)).toEqual({});
  });

  it('collects repeatable flags in order', () => {
    expect(parseFlags(['--listen', '10.0.0.1', '--weight=1', '--listen=::1', '--weight', '2'], SPEC)).toEqual({
      listen: ['10.0.0.1', '::1'],
      weight: [1, 2],
    });
  });

  it('reads booleans: --tcp, --tcp=false, --no-tcp', () => {
    expect(parseFlags(['--tcp'], SPEC)).toEqual({ tcp: true });
    expect(parseFlags(['--tcp=false'], SPEC)).toEqual({ tcp: false });
    expect(parseFlags(['--tcp=true'], SPEC)).toEqual({ tcp: true });
    expect(parseFlags(['--no-tcp'], SPEC)).toEqual({ tcp: false });
    // a boolean never eats the next argument
    expect(() => parseFlags(['--tcp', 'false'], SPEC)).toThrow(/unexpected argument 'false'/);
  });

  it('marks --help and -h', () => {
    expect(parseFlags(['--help'], SPEC)).toEqual({ help: true });
    expect(parseFlags(['--port', '1', '-h'], SPEC)).toEqual({ port: 1, help: true });
    expect(wantsHelp(['--bogus', '--help'])).toBe(true);
    expect(wantsHelp(['--name', 'x'])).toBe(false);
    expect(wantsHelp(['--', '--help'])).toBe(false);
  });

  it('refuses unknown flags by name, with a suggestion', () => {
    expect(usageError(() => parseFlags(['--lisen', 'x'], SPEC)).message).toBe('unknown flag --lisen (did you mean --listen?)');
    expect(usageError(() => parseFlags(['--zzzzzz'], SPEC)).message).toBe('unknown flag --zzzzzz');
    expect(usageError(() => parseFlags(['--no-name'], SPEC)).message).toContain('--no-name');
  });

  it('refuses missing, non-numeric and doubled values', () => {
    expect(usageError(() => parseFlags(['--name'], SPEC)).message).toBe('--name needs a value');
    expect(usageError(() => parseFlags(['--name', '--port', '1'], SPEC)).message).toBe('--name needs a value');
    for (const bad of ['abc', '', '1e3', '0x10', '12abc', ' 1', 'NaN', 'Infinity']) {
      expect(usageError(() => parseFlags([`--port=${bad}`], SPEC)).message).toContain('expects a number');
    }
    expect(usageError(() => parseFlags(['--port', '1', '--port', '2'], SPEC)).message).toBe('--port given more than once');
    expect(usageError(() => parseFlags(['--tcp=yes'], SPEC)).message).toContain('true or false');
    expect(usageError(() => parseFlags(['--no-tcp=true'], SPEC)).message).toContain('takes no value');
  });

  it('refuses stray arguments unless positionals are asked for', () => {
    expect(usageError(() => parseFlags(['up'], SPEC)).message).toBe("unexpected argument 'up'");
    expect(parseFlags(['up', '--port', '1', '--', '--x'], SPEC, { positionals: true })).toEqual({ port: 1, _: ['up', '--x'] });
  });
});

describe('formatUsage', () => {
  it('lists every flag', () => {
    const text = formatUsage('anyturn x', { a: { type: 'string', arg: 'IP', repeatable: true, help: 'the a' }, b: { type: 'boolean' } });
    expect(text).toContain('usage: anyturn x');
    expect(text).toMatch(/--a IP \.\.\.\s+the a/);
    expect(text).toContain('--b');
  });
});
