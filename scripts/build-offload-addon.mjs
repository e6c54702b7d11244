// Builds the offload addon (relay/offload/native, node-gyp) during `npm ci` / `npm install`. Never fails the
// install: without a compiler or Node's headers the relay runs the userspace data path and says why at start-up.
// Node's headers are taken from /usr/include/node when present (Debian's nodejs), so nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const directory = join(root, 'relay', 'offload', 'native');

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const npmRoot = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  const bundled = join(npmRoot, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return bundled;
  try {
    return createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
  } catch {
    return undefined;
  }
}

const gyp = nodeGyp();
if (gyp === undefined) {
  console.warn('anyturn: node-gyp not found; the eBPF offload addon is not built (the relay will use the userspace path)');
  process.exit(0);
}
const args = [gyp, 'rebuild', `--directory=${directory}`];
const nodeHeaders = join(dirname(process.execPath), '..', 'include', 'node', 'node_api.h');
if (existsSync(nodeHeaders)) args.push(`--nodedir=${join(dirname(process.execPath), '..')}`);
const run = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (run.status !== 0) {
  const why = `${run.stderr ?? ''}`.trim().split('\n').filter((l) => /error/i.test(l)).slice(-3).join(' | ');
  console.warn(`anyturn: the eBPF offload addon did not build (the relay will use the userspace path): ${why || run.error?.message || `exit ${run.status}`}`);
} else {
  console.log('anyturn: eBPF offload addon built (relay/offload/native/build/Release/anyturn_bpf.node)');
}
process.exit(0);
