/**
 * Proof: stop redis-server mid-run (SIGKILL) and the relays carry on: existing allocations keep relaying
 * ChannelData both ways, new Allocates (static user) succeed, a relay even starts while Redis is away. Restart
 * redis-server (empty: no persistence) on the same port: within a few seconds the registry lists every relay
 * again, the relayed-address index names the owner of every live allocation (also those made during the
 * outage), the REST secrets are back, and the relay that started without Redis shares the fleet nonce key.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClusterStore, type ClusterStore } from '../../../src/cluster/store.js';
import { silentLogger } from '../../../src/log.js';
import { Attr, Method, StunClass, readString, type TransportAddress } from '../../../src/stun/index.js';
import { errorOf, type TurnClient } from '../../support/turn-client.js';
import {
  anyturn, client, PASSWORD, startRedis, startRelay, status, stopAll, udpPeer, USER, waitFor,
  type RedisServer, type TestRelay,
} from './helpers.js';

type Peer = Awaited<ReturnType<typeof udpPeer>>;

let redis: RedisServer;
const relays = new Map<string, TestRelay>();
const clients: TurnClient[] = [];
const peers: Peer[] = [];
/** Every live allocation: relayed address -> owning relay id. */
const owners: { relayed: TransportAddress; relay: string }[] = [];
const SECRET = `outage-${randomBytes(12).toString('hex')}`;
const CHANNEL = 0x4000;

const relayArgs = () => ['--redis', redis.url, '--user', `${USER}:${PASSWORD}`];

beforeAll(async () => {
  redis = await startRedis();
  const [a, b] = await Promise.all([startRelay('out-a', relayArgs()), startRelay('out-b', relayArgs())]);
  relays.set(a.id, a).set(b.id, b);
}, 40_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(peers.map((p) => p.close()));
  await stopAll(relays.values());
  await redis?.cleanup();
});

/** An allocation on `relay` with a channel to a fresh UDP peer. */
async function allocation(relayId: string): Promise<{ c: TurnClient; relayed: TransportAddress; peer: Peer }> {
  const relay = relays.get(relayId)!;
  const c = await client(relay, USER, PASSWORD);
  clients.push(c);
  const { relayed } = await c.allocate();
  const peer = await udpPeer();
  peers.push(peer);
  await c.channelBind(CHANNEL, { family: 4, address: '127.0.0.1', port: peer.port });
  owners.push({ relayed: relayed[0], relay: relayId });
  return { c, relayed: relayed[0], peer };
}

/** `n` ChannelData messages client -> peer and `n` back peer -> client; every one must arrive. */
async function roundTrip(a: { c: TurnClient; relayed: TransportAddress; peer: Peer }, n = 20): Promise<void> {
  const tag = randomBytes(4).toString('hex');
  const fromPeer = new Set<string>();
  const onData = (_peer: TransportAddress, data: Buffer, via: string) => {
    if (via === 'channel' && data.toString().startsWith(tag)) fromPeer.add(data.toString());
  };
  a.c.on('data', onData);
  try {
    const before = a.peer.received.length;
    for (let i = 0; i < n; i++) a.c.sendChannelData(CHANNEL, Buffer.from(`${tag}-up-${i}`));
    await waitFor(`${n} ChannelData at the peer`, () => {
      const got = new Set(a.peer.received.slice(before).map((m) => m.toString()).filter((m) => m.startsWith(tag)));
      return got.size === n;
    }, 5000, 10);
    for (let i = 0; i < n; i++) a.peer.socket.send(Buffer.from(`${tag}-down-${i}`), a.relayed.port, a.relayed.address);
    await waitFor(`${n} ChannelData at the client`, () => fromPeer.size === n, 5000, 10);
  } finally {
    a.c.off('data', onData);
  }
}

/** REALM/NONCE from `relay`'s 401, then one signed Allocate on `other` with them: success or the error code. */
async function crossNonce(relay: TestRelay, other: TestRelay): Promise<'ok' | number> {
  const c1 = await client(relay, USER, PASSWORD);
  const c2 = await client(other, USER, PASSWORD);
  try {
    const r = await c1.request(Method.Allocate, (w) => w.addRequestedTransport(17));
    c2.realm = readString(r, Attr.REALM) as string;
    c2.nonce = readString(r, Attr.NONCE) as string;
    const signed = await c2.request(Method.Allocate, (w) => w.addRequestedTransport(17), { sign: true });
    if (signed.cls !== StunClass.SuccessResponse) return errorOf(signed).code;
    await c2.refresh(0);
    return 'ok';
  } finally {
    await Promise.all([c1.close(), c2.close()]);
  }
}

const unreachableLogged = (relay: TestRelay) =>
  relay.process.proc.waitForEvent('cluster store unreachable', (e) => e.msg === 'cluster store unreachable; serving the last known state', 8000);

describe('redis-server stopped mid-run and restarted', () => {
  let before: Awaited<ReturnType<typeof allocation>>;

  it('before: the registry lists both relays and the index owns the allocation', async () => {
    expect((await anyturn(['secret', 'add', SECRET, '--redis', redis.url])).code).toBe(0);
    before = await allocation('out-a');
    await roundTrip(before);
    const store = await openClusterStore({ redisUrl: redis.url, log: silentLogger() });
    try {
      await store.start();
      await waitFor('out-a owning its relayed address', async () => (await store.ownerOfRelayedAddress(before.relayed)) === 'out-a', 5000, 50);
      await waitFor('both relays registered', () => store.refresh().then(() => store.relays().length === 2), 5000, 50);
    } finally {
      await store.close();
    }
  });

  it('SIGKILL redis-server: ChannelData keeps flowing, new Allocates succeed, a relay starts without Redis', async () => {
    await redis.kill();
    await Promise.all([...relays.values()].map(unreachableLogged));
    await roundTrip(before, 50);

    const onA = await allocation('out-a');
    const onB = await allocation('out-b');
    await Promise.all([roundTrip(onA), roundTrip(onB)]);

    // A third relay comes up while the store is unreachable (bounded start-up) and serves at once.
    const c = await startRelay('out-c', relayArgs());
    relays.set(c.id, c);
    expect(c.process.proc.events.some((e) => e.msg === 'cluster store unreachable at start; retrying in the background')).toBe(true);
    await roundTrip(await allocation('out-c'));
    await roundTrip(before); // still
  }, 40_000);

  it('restart redis-server on the same port: registry, address index, secrets and the fleet nonce key are whole again', async () => {
    await redis.start(); // empty: --save '' --appendonly no
    const t0 = Date.now();
    const view = await waitFor('every relay registered again', async () => {
      const v = await status(redis.url);
      return v.relays.length === 3 ? v : undefined;
    }, 10_000, 100);
    const registryMs = Date.now() - t0;
    expect(registryMs).toBeLessThan(6000);
    expect(view.relays.map((r) => r.id)).toEqual(['out-a', 'out-b', 'out-c']);
    expect(view.relays.find((r) => r.id === 'out-a')!.allocations).toBe(2);

    const store = await openClusterStore({ redisUrl: redis.url, log: silentLogger() });
    try {
      await store.start();
      const index = await waitFor('the relayed-address index whole again', async () => {
        const found = await Promise.all(owners.map((o) => store.ownerOfRelayedAddress(o.relayed)));
        return found.every((owner, i) => owner === owners[i].relay) ? found : undefined;
      }, 6000, 50);
      expect(index).toEqual(['out-a', 'out-a', 'out-b', 'out-c']);
      expect(Date.now() - t0).toBeLessThan(8000);
      await store.refresh();
      expect(store.secrets()).toContain(SECRET); // seeded again by the relays
    } finally {
      await store.close();
    }

    // out-c started with a provisional nonce key; now every relay shares one fleet key.
    const [a, b, c] = ['out-a', 'out-b', 'out-c'].map((id) => relays.get(id)!);
    await waitFor('one fleet nonce key again', async () => {
      const results = await Promise.all([crossNonce(a, c), crossNonce(c, b), crossNonce(b, a)]);
      return results.every((r) => r === 'ok') ? results : undefined;
    }, 6000, 100);
    await roundTrip(before);
  }, 40_000);

  it('a relay that stops cleanly after the outage deregisters and releases its addresses', async () => {
    const c = relays.get('out-c')!;
    await c.process.stop();
    relays.delete('out-c');
    const store = await openClusterStore({ redisUrl: redis.url, log: silentLogger() });
    try {
      await store.start();
      await store.refresh();
      expect(store.relays().map((r) => r.id)).toEqual(['out-a', 'out-b']);
      const cAddress = owners.find((o) => o.relay === 'out-c')!.relayed;
      expect(await store.ownerOfRelayedAddress(cAddress)).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
