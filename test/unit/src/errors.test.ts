import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnyturnError, ERROR_CODES, assertNever, isAnyturnError, type ErrorCode } from '../../../src/errors.js';

/** The code the project ships: every .ts file under these folders (the lab is shipped as `anyturn lab`). */
const SHIPPED = ['src', 'relay', 'router-agent', 'bin', 'test/lab'];

function shippedSources(): string[] {
  const root = new URL('../../../', import.meta.url).pathname;
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && path !== join(root, 'src', 'errors.ts')) out.push(readFileSync(path, 'utf8'));
    }
  };
  for (const dir of SHIPPED) walk(join(root, dir));
  return out;
}

/** Rows of the docs/errors.md table: | `CODE` | STUN | meaning | action | */
function documentedCodes(): Map<string, { stun: string; meaning: string; action: string }> {
  const text = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = new Map<string, { stun: string; meaning: string; action: string }>();
  for (const line of text.split('\n')) {
    const m = /^\|\s*`(ATN_ERR_[A-Z0-9_]+)`\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$/.exec(line);
    if (!m) continue;
    expect(rows.has(m[1]), `${m[1]} documented twice`).toBe(false);
    rows.set(m[1], { stun: m[2], meaning: m[3], action: m[4] });
  }
  return rows;
}

describe('error codes', () => {
  const documented = documentedCodes();
  const defined = Object.keys(ERROR_CODES) as ErrorCode[];

  it('the docs table is found', () => {
    expect(documented.size).toBeGreaterThan(10);
  });

  it('every code in src/errors.ts is documented in docs/errors.md', () => {
    const missing = defined.filter((c) => !documented.has(c));
    expect(missing, 'add these to docs/errors.md').toEqual([]);
  });

  it('every documented code exists in src/errors.ts', () => {
    const extra = [...documented.keys()].filter((c) => !(c in ERROR_CODES));
    expect(extra, 'remove these from docs/errors.md or add them to ERROR_CODES').toEqual([]);
  });

  it('the STUN column matches, and meaning and action are filled in', () => {
    for (const code of defined) {
      const row = documented.get(code);
      if (!row) continue;
      const stunCode: number | undefined = ERROR_CODES[code].stunCode;
      expect(row.stun, code).toBe(stunCode === undefined ? '–' : String(stunCode));
      expect(row.meaning.length, `${code} meaning`).toBeGreaterThan(10);
      expect(row.action.length, `${code} action`).toBeGreaterThan(5);
    }
  });

  it('every code is raised somewhere in the shipped code (an unused code is removed, not documented)', () => {
    const sources = shippedSources();
    expect(sources.length).toBeGreaterThan(50);
    const unused = defined.filter((c) => !sources.some((text) => text.includes(`'${c}'`)));
    expect(unused, 'remove these from src/errors.ts and docs/errors.md, or raise them').toEqual([]);
  });

  it('codes follow ATN_ERR_<AREA>_<WHAT>', () => {
    for (const code of defined) expect(code).toMatch(/^ATN_ERR_[A-Z0-9]+_[A-Z0-9_]+$/);
  });
});

describe('AnyturnError', () => {
  it('carries code, STUN code and cause', () => {
    const cause = new Error('inner');
    const err = new AnyturnError('ATN_ERR_AUTH_STALE_NONCE', 'old', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(isAnyturnError(err)).toBe(true);
    expect(isAnyturnError(cause)).toBe(false);
    expect(err.name).toBe('AnyturnError');
    expect(err.code).toBe('ATN_ERR_AUTH_STALE_NONCE');
    expect(err.stunCode).toBe(438);
    expect(err.cause).toBe(cause);
    expect(new AnyturnError('ATN_ERR_CONFIG_FILE', 'x').stunCode).toBeUndefined();
  });

  it('assertNever throws ATN_ERR_INVALID_STATE', () => {
    expect(() => assertNever('x' as never)).toThrow(AnyturnError);
  });
});
