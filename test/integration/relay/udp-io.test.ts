/**
 * `--udp-io native|node` on the daemon as operators run it: each says which I/O it took in its start-up log and
 * relays both ways (Send/Data indications and ChannelData, client ↔ relay ↔ a dgram peer), and /metrics says it
 * too (`anyturn_udp_io_native`). The native engine
 * holds a relayed port as a bare fd: 50 allocations add 50 sockets to the process and no more.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { TurnClient } from '../../support/turn-client.js';
import { nextData, startPeer, type Peer } from '../turn/relay-fixture.js';
import { freePort, freePorts, startRelayProcess, type RelayProcess } from './relay-process.js';

const relays: RelayProcess[] = [];
const clients: TurnClient[] = [];
const peers: Peer[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(peers.map((p) => p.close()));
  await Promise.all(relays.map((r) => r.stop()));
});

/** Sockets the process holds (fds that are sockets). */
function socketFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false; // closed while listing
    }
  }).length;
}

describe.each(['native', 'node'] as const)('anyturn relay --udp-io %s', (mode) => {
  it('says so at start-up and relays both ways', async () => {
    const [port, metricsPort] = await freePorts(2);
    const relay = await startRelayProcess([
      '--listen', '127.0.0.1', '--port', String(port), '--user', 'alice:secret', '--realm', 'io.test', '--no-tcp',
      '--allow-peer', '127.0.0.0/8', '--min-port', '44000', '--max-port', '44999', '--offload', 'off', '--udp-io', mode,
      '--metrics', `127.0.0.1:${metricsPort}`,
    ]);
    relays.push(relay);
    await relay.proc.waitForEvent(`udp-io ${mode}`, (e) => typeof e.msg === 'string' && e.msg.startsWith(`udp-io ${mode}:`), 5000);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^anyturn_udp_io_native ${mode === 'native' ? 1 : 0}$`, 'm'));
    const peer = await startPeer();
    peers.push(peer);
    const c = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username: 'alice', password: 'secret', rtoMs: 100 });
    clients.push(c);
    const { relayed } = await c.allocate();
    await c.createPermission(peer.address);

    c.sendIndication(peer.address, Buffer.from('send indication'));
    const viaSend = await peer.next();
    expect(viaSend.data.toString()).toBe('send indication');
    expect(viaSend.from).toEqual(relayed[0]);
    const dataIndication = nextData(c);
    peer.send(Buffer.from('data indication'), relayed[0]);
    expect((await dataIndication).data.toString()).toBe('data indication');

    await c.channelBind(0x4000, peer.address);
    c.sendChannelData(0x4000, Buffer.from('channel data'));
    expect((await peer.next()).data.toString()).toBe('channel data');
    const back = nextData(c);
    peer.send(Buffer.from('channel back'), relayed[0]);
    const d = await back;
    expect(d.via).toBe('channel');
    expect(d.data.toString()).toBe('channel back');
  });
});

describe('the native engine holds a relayed port as one fd', () => {
  it('50 allocations add 50 sockets to the relay process, and Refresh 0 gives them back', async () => {
    const port = await freePort();
    const relay = await startRelayProcess([
      '--listen', '127.0.0.1', '--port', String(port), '--user', 'alice:secret', '--realm', 'io.test', '--no-tcp',
      '--min-port', '45000', '--max-port', '45999', '--offload', 'off', '--udp-io', 'native',
    ]);
    relays.push(relay);
    const pid = relay.proc.child.pid!;
    const before = socketFds(pid);
    const mine: TurnClient[] = [];
    for (let i = 0; i < 50; i++) {
      const c = await TurnClient.connect({ server: { address: '127.0.0.1', port }, username: 'alice', password: 'secret', rtoMs: 100 });
      clients.push(c);
      mine.push(c);
      await c.allocate();
    }
    expect(socketFds(pid) - before).toBe(50);
    for (const c of mine) await c.refresh(0);
    expect(socketFds(pid)).toBe(before);
  });
});
