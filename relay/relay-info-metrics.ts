/**
 * Who this relay is and what it depends on, for dashboards and alerts that join on id/pop: `anyturn_relay_info`
 * (always 1, labels id and pop: one value per process, never per client), the configured capacity, whether it
 * is draining, which UDP I/O it runs on, and whether the cluster store is reachable. Read at scrape time; nothing here runs per packet.
 */
import { Gauge, type Registry } from 'prom-client';

export interface RelayInfoSource {
  id: string;
  pop: string;
  capacity: number;
  storeUp: () => boolean;
  draining: () => boolean;
  /** The UDP I/O this process runs on (relay/datagram/udp-io.ts). */
  udpIo: 'native' | 'node';
}

export function registerRelayInfoMetrics(registry: Registry, source: RelayInfoSource): void {
  const registers = [registry];
  new Gauge({
    name: 'anyturn_relay_info',
    help: 'Always 1; labels name this relay (id, pop)',
    labelNames: ['id', 'pop'],
    registers,
    collect() {
      this.reset();
      this.set({ id: source.id, pop: source.pop }, 1);
    },
  });
  new Gauge({
    name: 'anyturn_relay_capacity',
    help: 'Configured maximum number of allocations (--capacity)',
    registers,
    collect() {
      this.set(source.capacity);
    },
  });
  new Gauge({
    name: 'anyturn_relay_draining',
    help: '1 while the relay is draining (SIGUSR1 or POST /drain), else 0',
    registers,
    collect() {
      this.set(source.draining() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'anyturn_udp_io_native',
    help: '1 when UDP sockets run on the native datagram engine, 0 on Node dgram (udp-io)',
    registers,
    collect() {
      this.set(source.udpIo === 'native' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'anyturn_cluster_store_up',
    help: '1 when the cluster store is reachable (always 1 for the embedded store), else 0',
    registers,
    collect() {
      this.set(source.storeUp() ? 1 : 0);
    },
  });
}
