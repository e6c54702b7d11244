/** Shared by the config tests: a temporary directory for YAML files, and catching an AnyturnError by its code. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { loadRelayConfig } from '../../../../src/config/schema.js';
import { AnyturnError, type ErrorCode } from '../../../../src/errors.js';

/** A temporary directory, removed after the test file; `yamlFile(text)` writes a new file in it. */
export function configDir(prefix: string, fileStem: string): { dir: string; yamlFile(text: string): string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    dir,
    yamlFile(text: string): string {
      const path = join(dir, `${fileStem}${n++}.yaml`);
      writeFileSync(path, text);
      return path;
    },
  };
}

/** Runs `fn`, which must throw an AnyturnError with `code`; returns that error. */
export function anyturnError(fn: () => unknown, code: ErrorCode, what = ''): AnyturnError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AnyturnError);
    expect((err as AnyturnError).code).toBe(code);
    return err as AnyturnError;
  }
  throw new Error(`expected ${code}${what}`);
}

/** The message of the ATN_ERR_CONFIG_INVALID that loadRelayConfig(argv) must throw. */
export function invalid(argv: string[]): string {
  return anyturnError(() => loadRelayConfig(argv), 'ATN_ERR_CONFIG_INVALID', ` for ${argv.join(' ')}`).message;
}
