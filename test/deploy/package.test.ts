/**
 * The installable artefact: `npm pack` of this checkout (built by pretest) installs offline into a temporary
 * prefix with `npm install -g` (its runtime dependencies are bundled), `anyturn --version` prints the version,
 * nothing from test/ ships, and the installed `anyturn relay` answers a STUN Binding.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabProcess } from '../lab/proc.js';
import { freePort } from '../integration/relay/relay-process.js';
import { stunBinding } from '../support/stun-binding.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
const work = mkdtempSync(join(tmpdir(), 'anyturn-pack-'));
const prefix = join(work, 'prefix');
const bin = join(prefix, 'bin', 'anyturn');
let files: string[] = [];

beforeAll(async () => {
  // --ignore-scripts: dist/ is what pretest built; packing must not rebuild it under other tests' feet.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, maxBuffer: 64 << 20 });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  files = packed.files.map((f) => f.path);
  await run('npm', ['install', '-g', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', prefix, join(work, packed.filename)], {
    cwd: work, timeout: 120_000,
  });
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm pack', () => {
  it('ships the built daemons and their bundled dependencies, and no test code', () => {
    expect(files).toContain('dist/bin/anyturn.js');
    expect(files).toContain('dist/relay/main.js');
    expect(files).toContain('dist/router-agent/main.js');
    expect(files.some((f) => f.startsWith('node_modules/prom-client/'))).toBe(true);
    expect(files.filter((f) => /(^|\/)test\//.test(f) && !f.startsWith('node_modules/'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.startsWith('node_modules/'))).toEqual([]);
    // No shipped module imports from test/ (it would fail on a packaged install).
    const importsTest = files
      .filter((f) => f.startsWith('dist/') && f.endsWith('.js'))
      .filter((f) => /(?:from |import\()\s*['"][^'"]*\/test\//.test(readFileSync(join(prefix, 'lib/node_modules', pkg.name, f), 'utf8')));
    expect(importsTest).toEqual([]);
  });

  it('installs an executable `anyturn` that prints its version', async () => {
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    const { stdout } = await run(bin, ['--version']);
    expect(stdout.trim()).toBe(`anyturn ${pkg.version}`);
  });

  it('the installed relay answers a STUN Binding', async () => {
    const port = await freePort();
    const relay = new LabProcess('installed relay', '', bin, ['relay', '--listen', '127.0.0.1', '--port', String(port), '--no-tcp', '--user', 'a:b']);
    try {
      await relay.waitForEvent('ready', (e) => e.msg === 'ready', 20_000);
      const mapped = await stunBinding('127.0.0.1', port);
      expect(mapped.address).toBe('127.0.0.1');
      expect(mapped.port).toBeGreaterThan(0);
    } finally {
      await relay.stop('SIGTERM');
    }
  });
});
