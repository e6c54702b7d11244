/**
 * external-ip (1:1 NAT) on a real TurnServer + UdpListener: relay IP 127.0.0.1 advertised as 192.0.2.10.
 * 192.0.2.10 (TEST-NET-1) is never reachable here, so everything asserted is what a client or a loopback peer
 * receives: XOR-RELAYED-ADDRESS says 192.0.2.10 while the socket is bound on 127.0.0.1, and two clients that
 * name each other by 192.0.2.10:port (client to client on this relay, no NAT hairpin) get their data through
 * the private mapping. The daemon part checks the anycast 300, /status and the heartbeat record.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { loadRelayConfig } from '../../../src/config/schema.js';
import { isAnyturnError } from '../../../src/errors.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeStun,
  newTransactionId,
  readAddress,
  readErrorCode,
} from '../../../src/stun/index.js';
import { startRelay as startDaemon, type RunningRelay } from '../../../relay/daemon.js';
import { nextData, startPeer, startRelay, USER2, type Peer, type Relay } from './relay-fixture.js';

const PUBLIC = '192.0.2.10';
const PRIVATE = '127.0.0.1';

describe('external-ip 192.0.2.10/127.0.0.1 on a TurnServer', () => {
  let relay: Relay;
  let peer: Peer;
  beforeEach(async () => {
    relay = await startRelay({ relayAddresses: [PRIVATE], externalAddresses: [{ public: PUBLIC, private: PRIVATE }] });
    peer = await startPeer(PRIVATE);
  });
  afterEach(async () => {
    await relay.close();
    await peer.close();
  });

  it('XOR-RELAYED-ADDRESS carries the public address; the socket is bound on the private one; XOR-MAPPED-ADDRESS is what we saw', async () => {
    const c = await relay.client();
    const r = await c.allocate();
    expect(r.relayed).toHaveLength(1);
    expect(r.relayed[0].address).toBe(PUBLIC);
    expect(r.mapped).toEqual(c.localAddress);
    const [allocation] = [...relay.server.allocations()];
    const bound = allocation.relayedSockets[0].socket;
    expect({ address: bound.localAddress, port: bound.localPort }).toEqual({ address: PRIVATE, port: r.relayed[0].port });
    expect(allocation.relayedAddresses).toEqual(r.relayed);
  });

  it('an outside peer is relayed to and from as usual (it sees and sends to the private address here, NAT does the rest)', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate();
    await c.createPermission(peer.address);
    c.sendIndication(peer.address, Buffer.from('to peer'));
    const got = await peer.next();
    expect(got.data.toString()).toBe('to peer');
    expect(got.from).toEqual({ family: 4, address: PRIVATE, port: relayed[0].port });
    const back = nextData(c);
    peer.send(Buffer.from('from peer'), got.from);
    const d = await back;
    expect(d.data.toString()).toBe('from peer');
    expect(d.peer).toEqual(peer.address); // a permitted source is reported as it is
  });

  it('client to client: a peer given as our public address gets its data via the private mapping, both ways', async () => {
    const a = await relay.client();
    const b = await relay.client({ username: USER2.name, password: USER2.password });
    const relayedA = (await a.allocate()).relayed[0];
    const relayedB = (await b.allocate()).relayed[0];
    expect(relayedA.address).toBe(PUBLIC);
    expect(relayedB.address).toBe(PUBLIC);
    await a.createPermission(relayedB);
    await b.createPermission(relayedA);

    // Send indication A -> B: B sees A by A's advertised address.
    const atB = nextData(b);
    a.sendIndication(relayedB, Buffer.from('hello B'));
    expect(await atB).toMatchObject({ via: 'indication', peer: relayedA });
    expect((await atB).data.toString()).toBe('hello B');

    // Channels both ways, bound to the advertised addresses.
    await a.channelBind(0x4001, relayedB);
    await b.channelBind(0x4002, relayedA);
    const atA = nextData(a);
    b.sendChannelData(0x4002, Buffer.from('hello A'));
    const dA = await atA;
    expect(dA).toMatchObject({ via: 'channel', channel: 0x4001 });
    expect(dA.data.toString()).toBe('hello A');
    const atB2 = nextData(b);
    a.sendChannelData(0x4001, Buffer.from('over channel'));
    const dB = await atB2;
    expect(dB).toMatchObject({ via: 'channel', channel: 0x4002 });
    expect(dB.data.toString()).toBe('over channel');
    expect(relay.metrics.dropped('send-failed')).toBe(0);
    expect(relay.metrics.peerSentPackets).toBe(3);
  });

  it('the mapping does not bypass permissions: without one for A, B gets nothing from A', async () => {
    const a = await relay.client();
    const b = await relay.client({ username: USER2.name, password: USER2.password });
    const relayedA = (await a.allocate()).relayed[0];
    const relayedB = (await b.allocate()).relayed[0];
    await a.createPermission(relayedB);
    const got: string[] = [];
    b.on('data', (_p, data) => got.push(data.toString()));
    a.sendIndication(relayedB, Buffer.from('unwanted'));
    await expect.poll(() => relay.metrics.dropped('no-permission')).toBe(1);
    expect(relay.metrics.peerSentPackets).toBe(1); // it left A's socket for 127.0.0.1, and B's allocation refused it
    // With the permission, the same datagram is delivered (the drop above was the permission, not the address).
    await b.createPermission(relayedA);
    const atB = nextData(b);
    a.sendIndication(relayedB, Buffer.from('wanted'));
    expect((await atB).data.toString()).toBe('wanted');
    expect(got).toEqual(['wanted']);
  });
});

/** A port free for UDP and TCP on every host given (bound with port 0, then released). */
async function freePort(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, hosts[0], () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    let free = true;
    for (const host of hosts) {
      free &&= await new Promise<boolean>((resolve) => {
        const s = dgram.createSocket('udp4');
        s.once('error', () => resolve(false));
        s.bind(port, host, () => s.close(() => resolve(true)));
      });
    }
    if (free) return port;
  }
  throw new Error('no free port');
}

describe('external-ip in the daemon: the anycast 300, /status and the heartbeat advertise the public address', () => {
  const G = '127.0.0.2';
  let relay: RunningRelay | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  async function start(): Promise<{ relay: RunningRelay; port: number }> {
    for (let attempt = 0; ; attempt++) {
      const port = await freePort([PRIVATE, G]);
      const config = loadRelayConfig([
        '--listen', PRIVATE, '--anycast', G, '--port', String(port), '--external-ip', PUBLIC,
        '--redirect', 'fast', '--user', 'alice:secret-a', '--id', 'nat-relay', '--nonce-key', randomBytes(32).toString('hex'),
      ]);
      try {
        return { relay: await startDaemon(config, { log: silentLogger() }), port };
      } catch (err) {
        if (!(isAnyturnError(err) && err.code === 'ATN_ERR_LISTEN_BIND') || attempt >= 5) throw err;
      }
    }
  }

  it('redirects Allocates on G to 192.0.2.10, reports it, and still binds 127.0.0.1', async () => {
    const started = await start();
    relay = started.relay;
    const { port } = started;
    expect(relay.config.externalIp).toEqual([{ public: PUBLIC, private: PRIVATE }]);

    // A real Allocate over UDP to G: fast mode answers 300 at once (idle relay: no race delay).
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => socket.bind(0, PRIVATE, resolve));
      const tid = newTransactionId();
      const request = new StunWriter().reset(Method.Allocate, StunClass.Request, tid).addRequestedTransport(17).addFingerprint().toBuffer();
      const answer = new Promise<Buffer>((resolve) => socket.once('message', (m) => resolve(m)));
      socket.send(request, port, G);
      const res = decodeStun(await answer);
      if (typeof res === 'string') throw new Error(`undecodable answer: ${res}`);
      expect(res.transactionId.equals(tid)).toBe(true);
      expect(readErrorCode(res)).toMatchObject({ code: 300 });
      expect(readAddress(res, Attr.ALTERNATE_SERVER)).toEqual({ family: 4, address: PUBLIC, port });
    } finally {
      socket.close();
    }

    const status = relay.status();
    expect(status.listeners.filter((l) => l.role === 'unicast').map((l) => l.address)).toEqual([PRIVATE, PRIVATE]);
    expect(status.advertised).toEqual({
      addresses: [
        { transport: 'udp', family: 4, address: PUBLIC, port },
        { transport: 'tcp', family: 4, address: PUBLIC, port },
      ],
      relayIp: [PUBLIC],
    });
  });
});
