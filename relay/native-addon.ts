/**
 * Native addons of the relay (built by `npm install` with node-gyp, scripts/build-native-addons.mjs): where they
 * are and how they load. A missing or broken addon is never fatal here: the caller gets the reason as a string
 * and decides (the relay then runs the portable path and says why).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from dist/relay (compiled) or relay (sources under vitest). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('repository root not found');
}

/** Where node-gyp puts the addon `name` built in `directory` (relative to the repository root). */
export function addonPath(directory: string, name: string): string {
  return join(repoRoot(), directory, 'build', 'Release', `${name}.node`);
}

const loaded = new Map<string, unknown>();

/** The addon at `path`, or why it is not there (`what` names it in the reason). Loaded once per process. */
export function loadAddon<T>(path: string, what: string): T | string {
  const known = loaded.get(path);
  if (known !== undefined) return known as T | string;
  let result: T | string;
  if (!existsSync(path)) {
    result = `the ${what} addon was not built (${path} missing; see the npm install output)`;
  } else {
    try {
      result = createRequire(import.meta.url)(path) as T;
    } catch (err) {
      result = `the ${what} addon does not load: ${(err as Error).message}`;
    }
  }
  loaded.set(path, result);
  return result;
}
