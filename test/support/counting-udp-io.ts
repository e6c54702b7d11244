/** A UdpIo that counts the datagrams received by the sockets `counts` picks (e.g. relayed ports), then passes them on. */
import type { UdpBindOptions, UdpIo } from '../../relay/datagram/udp-socket.js';

export interface CountingUdpIo extends UdpIo {
  readonly received: number;
}

export function countingUdpIo(inner: UdpIo, counts: (options: UdpBindOptions) => boolean): CountingUdpIo {
  let received = 0;
  return {
    kind: inner.kind,
    get received() {
      return received;
    },
    bind(options, events) {
      if (!counts(options)) return inner.bind(options, events);
      const message = events.message;
      return inner.bind(options, {
        ...events,
        message: (msg, address, port) => {
          received += 1;
          message(msg, address, port);
        },
      });
    },
  };
}
