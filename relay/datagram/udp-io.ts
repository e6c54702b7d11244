/**
 * `--udp-io auto|native|node`: how the relay's UDP sockets (listeners and relayed ports) are read and written,
 * decided once at start-up.
 *   native → the native engine (native-io.ts: no libuv handle per socket, recvmmsg batches) or no relay:
 *            ATN_ERR_UDP_IO_UNAVAILABLE with the reason.
 *   node   → Node's dgram (node-io.ts).
 *   auto   → native where the addon was built (Linux), otherwise one log line saying why, and dgram.
 */
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import type { UdpIoMode } from '../../src/config/schema.js';
import { nativeUdpIo } from './native-io.js';
import { nodeUdpIo } from './node-io.js';
import type { UdpIo } from './udp-socket.js';

/** The UDP I/O for `mode`; throws for `native` without the engine. */
export function selectUdpIo(mode: UdpIoMode, log?: Logger): UdpIo {
  if (mode === 'node') {
    log?.info('udp-io node: UDP sockets through Node dgram');
    return nodeUdpIo;
  }
  const native = nativeUdpIo();
  if (typeof native !== 'string') {
    if (log !== undefined) native.onHandlerError = (err) => log.error({ err }, 'a datagram handler threw (the rest of its batch was delivered)');
    log?.info('udp-io native: UDP sockets through the native engine (recvmmsg batches, no handle per relayed port)');
    return native;
  }
  if (mode === 'native') throw new AnyturnError('ATN_ERR_UDP_IO_UNAVAILABLE', native);
  log?.info({ reason: native }, 'native UDP engine unavailable: UDP sockets through Node dgram');
  return nodeUdpIo;
}
