#!/usr/bin/env node
/**
 * `anyturn-lab up|down|status [flags]`: the namespace lab's own command line, for developers working from a
 * checkout (`npm run lab -- up --pops 2`). It is test code and is not part of the packaged `anyturn` binary.
 */
import { AnyturnError } from '../../src/errors.js';
import { run } from './command.js';

run(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number' && code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    const text = err instanceof AnyturnError ? `${err.code}: ${err.message}` : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`anyturn-lab: ${text}\n`);
    process.exitCode = 1;
  },
);
