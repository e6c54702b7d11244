/**
 * Send indication (RFC 8656 §10.2): XOR-PEER-ADDRESS + DATA, relayed to the peer when a permission exists.
 * Indications get no answer: anything wrong is counted and dropped silently.
 */
import { Attr, readData, readXorAddress, type StunMessage } from '../../../src/stun/index.js';
import type { ClientTransport } from '../client-transport.js';
import type { TurnCore } from '../context.js';

export function handleSendIndication(
  core: TurnCore,
  transport: ClientTransport,
  msg: StunMessage,
  clientAddress: string,
  clientPort: number,
): void {
  const allocation = core.table.find(transport, clientAddress, clientPort);
  if (allocation === undefined) {
    core.metrics.drop('no-allocation');
    return;
  }
  const peer = readXorAddress(msg, Attr.XOR_PEER_ADDRESS);
  const data = readData(msg);
  if (peer === undefined || peer === 'bad-attribute' || peer.port === 0 || data === undefined) {
    core.metrics.drop('malformed');
    return;
  }
  const relay = allocation.relayFor(peer.family);
  if (relay === undefined) {
    core.metrics.drop('no-permission');
    return;
  }
  core.dataPath.toPeer(allocation, relay, peer.address, peer.port, data);
}
