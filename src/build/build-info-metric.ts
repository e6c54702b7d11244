/**
 * `anyturn_build_info{version, node}`: always 1, so that dashboards and alerts can tell which release and which
 * Node.js every relay and agent runs (a fleet in the middle of a rolling upgrade shows two versions).
 */
import { Gauge, type Registry } from 'prom-client';
import { packageVersion } from './version.js';

export function registerBuildInfo(registry: Registry): void {
  new Gauge({
    name: 'anyturn_build_info',
    help: 'Always 1; labels name the anyturn release (version) and the Node.js version (node)',
    labelNames: ['version', 'node'],
    registers: [registry],
  }).set({ version: packageVersion(), node: process.versions.node }, 1);
}
