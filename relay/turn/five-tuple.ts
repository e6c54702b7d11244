/**
 * The 5-tuple (RFC 8656 §2): client address and port, server address and port, and the transport protocol
 * between client and server. An allocation is identified by its 5-tuple.
 *
 * Inside the relay, the server half of the 5-tuple is the ClientTransport (listener) the request arrived on, so
 * tables key allocations by (transport, client address, client port): `clientKey()` builds that key. Transports
 * get a small numeric id on first use so the key is one flat string (no nested maps).
 */
import type { ClientTransport } from './client-transport.js';

export type TransportProtocol = 'udp' | 'tcp' | 'tls';

export interface FiveTuple {
  protocol: TransportProtocol;
  clientAddress: string;
  clientPort: number;
  serverAddress: string;
  serverPort: number;
}

const transportIds = new WeakMap<ClientTransport, number>();
let nextTransportId = 1;

/** A process-unique small number for a transport (stable for the transport's life). */
export function transportId(transport: ClientTransport): number {
  let id = transportIds.get(transport);
  if (id === undefined) {
    id = nextTransportId++;
    transportIds.set(transport, id);
  }
  return id;
}

/** The table key of a 5-tuple seen through `transport` (per packet: one WeakMap lookup and a concatenation). */
export function clientKey(transport: ClientTransport, clientAddress: string, clientPort: number): string {
  return transportId(transport) + '|' + clientAddress + '|' + clientPort;
}

/** The 5-tuple of a client seen through `transport`. */
export function fiveTupleOf(transport: ClientTransport, clientAddress: string, clientPort: number): FiveTuple {
  return {
    protocol: transport.protocol,
    clientAddress,
    clientPort,
    serverAddress: transport.localAddress,
    serverPort: transport.localPort,
  };
}

/** Human-readable form for logs: `udp 192.0.2.1:5000 -> 203.0.113.1:3478`. */
export function formatFiveTuple(t: FiveTuple): string {
  return `${t.protocol} ${hostPort(t.clientAddress, t.clientPort)} -> ${hostPort(t.serverAddress, t.serverPort)}`;
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The IP family of an address in Node's textual form. */
export function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}
