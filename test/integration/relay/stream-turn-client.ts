/**
 * The TCP/TLS client of the listener tests: the shared test client (test/support/turn-client.ts, transport 'tcp' or
 * 'tls': framing with the relay's own StreamFramer, transaction matching, the long-term credential dance) plus what
 * these tests look at, collected in arrays: every framed message, the raw chunks (ChannelData padding on the wire)
 * and the data relayed to the client.
 */
import type net from 'node:net';
import type { TransportAddress } from '../../../src/stun/index.js';
import { TurnClient } from '../../support/turn-client.js';

export interface StreamClientOptions {
  host: string;
  port: number;
  tls?: boolean;
  username?: string;
  password?: string;
}

export class StreamTurnClient {
  readonly client: TurnClient<net.Socket>;
  /** Every framed message from the relay. */
  readonly received: Buffer[] = [];
  /** Raw bytes received (to check ChannelData padding on the wire). */
  readonly wire: Buffer[] = [];
  /** Relayed data: the peer of a Data indication, the channel number of ChannelData. */
  readonly data: { peer: TransportAddress | number; data: Buffer }[] = [];

  private constructor(client: TurnClient<net.Socket>) {
    this.client = client;
    client.socket.on('data', (chunk: Buffer) => this.wire.push(Buffer.from(chunk)));
    client.on('packet', (m) => this.received.push(m));
    client.on('data', (peer, data, via, channel) => this.data.push({ peer: via === 'channel' ? channel! : peer, data }));
  }

  static async connect(options: StreamClientOptions): Promise<StreamTurnClient> {
    const { host, port, username, password } = options;
    const transport = options.tls === true ? 'tls' : 'tcp';
    return new StreamTurnClient(await TurnClient.connect({ server: { address: host, port }, transport, username, password }));
  }

  get socket(): net.Socket {
    return this.client.socket;
  }

  get closed(): Promise<void> {
    return this.client.closed;
  }

  write(data: Buffer): void {
    this.client.sendRaw(data);
  }

  binding(): Promise<TransportAddress> {
    return this.client.binding();
  }

  async allocate(): Promise<TransportAddress> {
    return (await this.client.allocate()).relayed[0];
  }

  channelBind(channel: number, peer: TransportAddress): Promise<void> {
    return this.client.channelBind(channel, peer);
  }

  /** ChannelData, padded to 4 as RFC 8656 §12.5 requires on streams. */
  sendChannelData(channel: number, data: Buffer): void {
    this.client.sendChannelData(channel, data);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
