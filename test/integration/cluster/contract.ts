/**
 * The ClusterStore contract, shared by the memory and Redis store tests: each test gets
 * two handles (`a`, `b`) on one shared backend, like two relays of one cluster.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterStore } from '../../../src/cluster/store.js';
import type { AnnouncementInput, RelayHeartbeat } from '../../../src/cluster/types.js';
import { waitFor } from './helpers.js';

export interface ContractHandles {
  a: ClusterStore;
  b: ClusterStore;
  close(): Promise<void>;
}

export function relay(id: string, pop: string, over: Partial<RelayHeartbeat> = {}): RelayHeartbeat {
  return {
    id,
    pop,
    addresses: [
      { transport: 'udp', family: 4, address: '10.9.9.1', port: 3478 },
      { transport: 'tls', family: 6, address: '2001:db8::1', port: 5349 },
    ],
    capacity: 1000,
    allocations: 100,
    load: 0.1,
    bandwidthBps: 1_000_000,
    state: 'active',
    ...over,
  };
}

/** b's view after a refresh (the Redis store reads through its cache). */
async function seen(store: ClusterStore): Promise<string[]> {
  await store.refresh();
  return store.relays().map((r) => r.id);
}

export function clusterStoreContract(name: string, open: () => Promise<ContractHandles>): void {
  describe(`ClusterStore contract: ${name}`, () => {
    let h: ContractHandles;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.close();
    });

    it('registers relays and shows them to every handle, with every field', async () => {
      expect(await h.a.heartbeat(relay('r1', 'pop-a'), 10_000)).toBe('written');
      expect(await h.b.heartbeat(relay('r2', 'pop-b', { state: 'full', load: 1 }), 10_000)).toBe('written');
      expect(await seen(h.b)).toEqual(['r1', 'r2']);
      expect(await seen(h.a)).toEqual(['r1', 'r2']);
      const r1 = h.b.relay('r1');
      expect(r1).toMatchObject(relay('r1', 'pop-a'));
      expect(r1?.ttlMs).toBe(10_000);
      expect(r1?.updatedAt).toBeGreaterThan(Date.now() - 60_000);
      expect(h.b.relay('nope')).toBeUndefined();
    });

    it('expires a record when its heartbeats stop, keeps one that beats', async () => {
      await h.a.heartbeat(relay('quiet', 'pop-a'), 300);
      const beat = () => h.a.heartbeat(relay('alive', 'pop-a'), 1000);
      await beat();
      const timer = setInterval(() => void beat(), 50);
      try {
        expect(await seen(h.b)).toEqual(['alive', 'quiet']);
        await waitFor('quiet to expire', async () => !(await seen(h.b)).includes('quiet'), 5000);
        expect(await seen(h.b)).toEqual(['alive']);
      } finally {
        clearInterval(timer);
      }
      await waitFor('alive to expire after its last beat', async () => (await seen(h.b)).length === 0, 5000);
    });

    it('deregisters at once', async () => {
      await h.a.heartbeat(relay('r1', 'pop-a'), 10_000);
      expect(await seen(h.b)).toEqual(['r1']);
      expect(await h.a.deregister('r1')).toBe('written');
      expect(await seen(h.b)).toEqual([]);
      expect(await seen(h.a)).toEqual([]);
    });

    it('summarises each PoP', async () => {
      await h.a.heartbeat(relay('a1', 'pop-a', { load: 0.2, allocations: 200, bandwidthBps: 5 }), 10_000);
      await h.a.heartbeat(relay('a2', 'pop-a', { load: 0.95, state: 'full', allocations: 1000, bandwidthBps: 7 }), 10_000);
      await h.a.heartbeat(relay('a3', 'pop-a', { load: 0.5, state: 'draining', allocations: 50, bandwidthBps: 11 }), 10_000);
      await h.b.heartbeat(relay('b1', 'pop-b', { load: 0.4 }), 10_000);
      await h.b.publishAnnouncement(
        { pop: 'pop-a', agent: 'router-a', action: 'announce', prepend: 1, reason: 'load 0.6', prefixes: ['198.18.0.1/32'], load: 0.6 },
        10_000,
      );
      await h.b.refresh();
      const [a, b] = h.b.popSummaries();
      expect(a).toMatchObject({
        pop: 'pop-a',
        relays: 3,
        activeRelays: 1,
        fullRelays: 1,
        drainingRelays: 1,
        allocations: 1250,
        capacity: 3000,
        bandwidthBps: 23,
      });
      expect(a.load).toBeCloseTo(0.6, 9); // (0.2 + 1) / 2: draining left out, full counts as 1
      expect(a.announcements).toHaveLength(1);
      expect(a.announcements[0]).toMatchObject({ agent: 'router-a', action: 'announce', prepend: 1, prefixes: ['198.18.0.1/32'] });
      expect(b).toMatchObject({ pop: 'pop-b', relays: 1, activeRelays: 1, load: 0.4, announcements: [] });
    });

    it('publishes announcements to every handle and replaces them per agent', async () => {
      const base: Pick<AnnouncementInput, 'pop' | 'agent' | 'prefixes' | 'load'> = {
        pop: 'pop-a',
        agent: 'router-a',
        prefixes: ['198.18.0.1/32'],
        load: 0.1,
      };
      await h.a.publishAnnouncement({ ...base, action: 'announce', prepend: 0, reason: 'ok' }, 10_000);
      await h.b.refresh();
      expect(h.b.announcements().map((x) => x.action)).toEqual(['announce']);
      await h.a.publishAnnouncement({ ...base, action: 'withdraw', prepend: 0, reason: 'no healthy relay' }, 10_000);
      await h.b.refresh();
      expect(h.b.announcements()).toHaveLength(1);
      expect(h.b.announcements()[0]).toMatchObject({ action: 'withdraw', reason: 'no healthy relay' });
    });

    it('rotates REST secrets cluster-wide and notifies subscribers', async () => {
      const events: string[][] = [];
      h.b.on('secrets', (s) => events.push(s));
      expect(await h.a.addSecret('s1')).toBe('written');
      await waitFor('b to hear s1', () => events.some((e) => e.join() === 's1'));
      await h.a.addSecret('s2');
      await waitFor('b to hear s2', () => h.b.secrets().join() === 's2,s1');
      expect(h.a.secrets()).toEqual(['s2', 's1']); // newest first
      await h.b.retireSecret('s1');
      await waitFor('a to hear s1 retired', () => h.a.secrets().join() === 's2');
      expect(events.at(-1)).toEqual(['s2']);
      await h.a.addSecret('s2'); // adding twice changes nothing
      expect(h.a.secrets()).toEqual(['s2']);
      await expect(h.a.addSecret('has space')).rejects.toMatchObject({ code: 'ATN_ERR_CONFIG_INVALID' });
    });

    it('rotates overlay keys cluster-wide, apart from the REST secrets', async () => {
      const events: string[][] = [];
      h.b.on('overlayKeys', (k) => events.push(k));
      const k1 = 'overlay-key-one-0123456789';
      const k2 = 'overlay-key-two-0123456789';
      expect(await h.a.addOverlayKey(k1)).toBe('written');
      await h.a.addOverlayKey(k2);
      await waitFor('b to hear k2', () => h.b.overlayKeys().join() === `${k2},${k1}`);
      expect(h.b.secrets()).toEqual([]);
      await h.b.retireOverlayKey(k1);
      await waitFor('a to hear k1 retired', () => h.a.overlayKeys().join() === k2);
      expect(events.at(-1)).toEqual([k2]);
      await expect(h.a.addOverlayKey('short')).rejects.toMatchObject({ code: 'ATN_ERR_CONFIG_INVALID' });
    });

    it('keeps the egress table cluster-wide (tenant=uplink rules, newest first)', async () => {
      const events: string[][] = [];
      h.b.on('egressRules', (r) => events.push(r));
      await h.a.addEgressRule('premium=uplink1');
      await h.a.addEgressRule('*=uplink2');
      await waitFor('b to hear both rules', () => h.b.egressRules().join() === '*=uplink2,premium=uplink1');
      await h.b.retireEgressRule('*=uplink2');
      await waitFor('a to hear the retirement', () => h.a.egressRules().join() === 'premium=uplink1');
      expect(events.at(-1)).toEqual(['premium=uplink1']);
      expect(h.a.secrets()).toEqual([]);
      await expect(h.a.addEgressRule('no-uplink')).rejects.toMatchObject({ code: 'ATN_ERR_CONFIG_INVALID' });
    });

    it('creates the fleet nonce key once, shared by all', async () => {
      const keys: Buffer[] = [];
      h.a.on('nonceKey', (k) => keys.push(k));
      const [ka, kb] = await Promise.all([h.a.nonceKey(), h.b.nonceKey()]);
      expect(ka.length).toBe(32);
      expect(ka.equals(kb)).toBe(true);
      expect((await h.a.nonceKey()).equals(ka)).toBe(true);
      expect(h.b.cachedNonceKey()?.equals(ka)).toBe(true);
      expect(keys).toHaveLength(1);
    });

    it('indexes relayed addresses to their owning relay, with a TTL', async () => {
      const v4 = { family: 4 as const, address: '10.9.9.1', port: 49152 };
      const v6 = { family: 6 as const, address: '2001:db8::1', port: 49152 };
      expect(await h.a.claimRelayedAddress(v4, 'r1', 10_000)).toBe('written');
      await h.a.claimRelayedAddress(v6, 'r1', 10_000);
      expect(await h.b.ownerOfRelayedAddress(v4)).toBe('r1');
      expect(await h.b.ownerOfRelayedAddress(v6)).toBe('r1');
      expect(h.b.cachedOwnerOfRelayedAddress(v4)).toBe('r1');
      expect(await h.b.ownerOfRelayedAddress({ ...v4, port: 49153 })).toBeUndefined();
      await h.b.releaseRelayedAddress(v4, 'r2'); // not the owner: nothing happens
      expect(await h.b.ownerOfRelayedAddress(v4)).toBe('r1');
      await h.a.releaseRelayedAddress(v4, 'r1');
      expect(await h.b.ownerOfRelayedAddress(v4)).toBeUndefined();
      expect(await h.a.ownerOfRelayedAddress(v6)).toBe('r1');
      await h.a.claimRelayedAddress(v4, 'r2', 200);
      expect(await h.b.ownerOfRelayedAddress(v4)).toBe('r2');
      await waitFor('the short claim to expire', async () => (await h.b.ownerOfRelayedAddress(v4)) === undefined, 5000);
    });

    it('rejects invalid ids and TTLs', async () => {
      await expect(h.a.heartbeat(relay('bad id', 'pop-a'), 1000)).rejects.toMatchObject({ code: 'ATN_ERR_CONFIG_INVALID' });
      await expect(h.a.heartbeat(relay('r1', 'pop-a'), 0)).rejects.toMatchObject({ code: 'ATN_ERR_CONFIG_INVALID' });
      await expect(
        h.a.publishAnnouncement({ pop: 'p', agent: 'a/b', action: 'announce', prepend: 0, reason: '', prefixes: [], load: 0 }, 1000),
      ).rejects.toMatchObject({ code: 'ATN_ERR_CONFIG_INVALID' });
      expect(h.a.connectionState()).toBe('up');
    });
  });
}
