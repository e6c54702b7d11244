/**
 * Where things are, whether this code runs compiled (dist/test/bench/*.js, `npm run bench`) or from the
 * TypeScript sources (test/bench/*.ts under vitest): processes are always started from the compiled dist/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'tsconfig.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export const REPO_ROOT = findRoot();
export const DIST_BENCH = join(REPO_ROOT, 'dist', 'test', 'bench');
export const GENERATOR_SCRIPT = join(DIST_BENCH, 'generator.js');
export const NODE_TURN_SCRIPT = join(DIST_BENCH, 'node-turn-server.js');
export const ANYTURN_CLI = join(REPO_ROOT, 'dist', 'bin', 'anyturn.js');
export const BENCH_DOC = join(REPO_ROOT, 'docs', 'benchmarks.md');
