/**
 * What the kernel fast path did, for /metrics (plain number fields, read at scrape time like RelayMetrics).
 * The same packets are also in turn_traffic_* (ChannelOffload credits them there).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export class OffloadMetrics {
  /** 1 when the kernel fast path is attached. */
  enabled = 0;
  /** Channel bindings the kernel carries now. */
  flows = 0;
  clientToPeerPackets = 0;
  clientToPeerBytes = 0;
  peerToClientPackets = 0;
  peerToClientBytes = 0;
  /** Failed attempts to give a binding a kernel entry (map full or refused): it stays in userspace until retried. */
  installFailures = 0;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    new Gauge({
      name: 'turn_offload_enabled',
      help: '1 when the eBPF kernel fast path for UDP ChannelData is attached, else 0',
      registers,
      collect() {
        this.set(self.enabled);
      },
    });
    new Gauge({
      name: 'turn_offload_flows',
      help: 'Channel bindings the kernel fast path carries now',
      registers,
      collect() {
        this.set(self.flows);
      },
    });
    new Counter({
      name: 'turn_offload_packets_total',
      help: 'Packets relayed by the kernel fast path, by direction',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        this.inc({ direction: 'client-to-peer' }, self.clientToPeerPackets);
        this.inc({ direction: 'peer-to-client' }, self.peerToClientPackets);
      },
    });
    new Counter({
      name: 'turn_offload_bytes_total',
      help: 'Application data bytes relayed by the kernel fast path (ChannelData headers not counted), by direction',
      labelNames: ['direction'],
      registers,
      collect() {
        this.reset();
        this.inc({ direction: 'client-to-peer' }, self.clientToPeerBytes);
        this.inc({ direction: 'peer-to-client' }, self.peerToClientBytes);
      },
    });
    new Counter({
      name: 'turn_offload_install_failures_total',
      help: 'Failed attempts to give a channel binding a kernel entry (such bindings are relayed in userspace)',
      registers,
      collect() {
        this.reset();
        this.inc(self.installFailures);
      },
    });
  }
}
