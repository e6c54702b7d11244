// Builds the relay's native addons (node-gyp) during `npm ci` / `npm install`: the eBPF offload control
// (relay/offload/native) and the datagram engine (relay/datagram/native). Never fails the install: without a
// compiler or Node's headers the relay runs the portable paths (userspace data path, Node dgram) and says why at
// start-up. Node's headers are taken from the Node installation when present (Debian's nodejs), so nothing is
// downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ADDONS = [
  { directory: join('relay', 'offload', 'native'), name: 'anyturn_bpf', what: 'eBPF offload', without: 'the userspace data path' },
  { directory: join('relay', 'datagram', 'native'), name: 'anyturn_datagram', what: 'datagram engine', without: 'Node dgram sockets' },
];

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
  console.warn('anyturn: node-gyp not found; the native addons are not built (the relay will use its portable paths)');
  process.exit(0);
}
const nodeHeaders = join(dirname(process.execPath), '..', 'include', 'node', 'node_api.h');
for (const addon of ADDONS) {
  const args = [gyp, 'rebuild', `--directory=${join(root, addon.directory)}`];
  if (existsSync(nodeHeaders)) args.push(`--nodedir=${join(dirname(process.execPath), '..')}`);
  const run = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (run.status !== 0) {
    const why = `${run.stderr ?? ''}`.trim().split('\n').filter((l) => /error/i.test(l)).slice(-3).join(' | ');
    console.warn(`anyturn: the ${addon.what} addon did not build (the relay will use ${addon.without}): ${why || run.error?.message || `exit ${run.status}`}`);
  } else {
    console.log(`anyturn: ${addon.what} addon built (${join(addon.directory, 'build', 'Release', `${addon.name}.node`)})`);
  }
}
process.exit(0);
