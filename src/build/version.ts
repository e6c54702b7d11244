import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package version, read once from the package.json this file ships with: two levels up from
 * dist/src/build/version.js in a packed install or a build, one level up from src/build/ when run from source.
 */
let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, '..', '..', 'package.json'), join(here, '..', '..', '..', 'package.json')]) {
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'anyturn' && typeof pkg.version === 'string') return (cached = pkg.version);
    } catch {
      // not this one
    }
  }
  return (cached = '0.0.0-unknown');
}
