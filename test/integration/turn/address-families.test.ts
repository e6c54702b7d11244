import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/log.js';
import { UdpListener } from '../../../relay/listen/udp.js';
import { TurnClient } from '../../support/turn-client.js';
import { codeOf, USER, nextData, startPeer, startRelay, type Relay } from './relay-fixture.js';


describe('EVEN-PORT, RESERVATION-TOKEN, IPv6 and dual-stack allocations', () => {
  let relay: Relay | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it('EVEN-PORT gives an even port; R=1 reserves the next one for a RESERVATION-TOKEN', async () => {
    relay = await startRelay();
    const a = await relay.client();
    const even = await a.allocate({ evenPort: { reserve: false } });
    expect(even.relayed[0].port % 2).toBe(0);
    expect(even.reservationToken).toBeUndefined();

    const b = await relay.client();
    const pair = await b.allocate({ evenPort: { reserve: true } });
    const p = pair.relayed[0].port;
    expect(p % 2).toBe(0);
    expect(pair.reservationToken).toHaveLength(8);

    const c = await relay.client();
    expect(await codeOf(c.allocate({ reservationToken: pair.reservationToken, evenPort: { reserve: false } }))).toBe(400);
    expect(await codeOf(c.allocate({ reservationToken: Buffer.alloc(8, 7) }))).toBe(508);
    const reserved = await c.allocate({ reservationToken: pair.reservationToken });
    expect(reserved.relayed[0]).toEqual({ family: 4, address: '127.0.0.1', port: p + 1 });
    // A token is good once.
    const d = await relay.client();
    expect(await codeOf(d.allocate({ reservationToken: pair.reservationToken }))).toBe(508);
  });

  it('REQUESTED-ADDRESS-FAMILY IPv6 → an IPv6 relayed address; 440 without an IPv6 relay IP', async () => {
    relay = await startRelay({ relayAddresses: ['127.0.0.1', '::1'] });
    const peer6 = await startPeer('::1');
    try {
      const c = await relay.client();
      const r = await c.allocate({ family: 6 });
      expect(r.relayed).toEqual([expect.objectContaining({ family: 6, address: '::1' })]);
      expect(await codeOf(c.createPermission({ family: 4, address: '127.0.0.1', port: 1 }))).toBe(443);
      await c.channelBind(0x4abc, peer6.address);
      c.sendChannelData(0x4abc, Buffer.from('v6 data'));
      const got = await peer6.next();
      expect(got.data.toString()).toBe('v6 data');
      expect(got.from).toEqual(r.relayed[0]);
    } finally {
      await peer6.close();
    }
    await relay.close();
    relay = await startRelay({ relayAddresses: ['127.0.0.1'] });
    const c2 = await relay.client();
    expect(await codeOf(c2.allocate({ family: 6 }))).toBe(440);
  });

  it('ADDITIONAL-ADDRESS-FAMILY IPv6 → dual allocation; data flows on both families', async () => {
    relay = await startRelay({ relayAddresses: ['127.0.0.1', '::1'] });
    const peer4 = await startPeer('127.0.0.1');
    const peer6 = await startPeer('::1');
    try {
      const c = await relay.client();
      const r = await c.allocate({ additionalFamily: 6 });
      expect(r.relayed.map((a) => a.family)).toEqual([4, 6]);
      expect(r.addressError).toBeUndefined();
      await c.createPermission(peer4.address, peer6.address);
      c.sendIndication(peer4.address, Buffer.from('to v4'));
      c.sendIndication(peer6.address, Buffer.from('to v6'));
      expect((await peer4.next()).from).toEqual(r.relayed[0]);
      expect((await peer6.next()).from).toEqual(r.relayed[1]);
      const back = nextData(c);
      peer6.send(Buffer.from('from v6'), r.relayed[1]);
      expect((await back).peer).toEqual(peer6.address);
      // Deleting one family keeps the other.
      expect(await c.refresh(0, 6)).toBe(0);
      expect(relay.server.allocationCount).toBe(1);
      expect(await codeOf(c.refresh(600, 6))).toBe(443);
      expect(await c.refresh(600, 4)).toBe(600);
    } finally {
      await peer4.close();
      await peer6.close();
    }
  });

  it('ADDITIONAL-ADDRESS-FAMILY without an IPv6 relay IP → IPv4 only + ADDRESS-ERROR-CODE 440', async () => {
    relay = await startRelay({ relayAddresses: ['127.0.0.1'] });
    const c = await relay.client();
    const r = await c.allocate({ additionalFamily: 6 });
    expect(r.relayed.map((a) => a.family)).toEqual([4]);
    expect(r.addressError).toEqual({ family: 6, code: 440 });
    const d = await relay.client();
    expect(await codeOf(d.allocate({ additionalFamily: 4 }))).toBe(400);
    expect(await codeOf(d.allocate({ additionalFamily: 6, family: 4 }))).toBe(400);
  });

  it('serves IPv6 clients on an IPv6 listener (Binding and Allocate)', async () => {
    relay = await startRelay({ relayAddresses: ['127.0.0.1', '::1'] });
    const v6 = new UdpListener({ address: '::1', port: 0, role: 'unicast' }, { server: relay.server, log: silentLogger() });
    await v6.listen();
    const c = await TurnClient.connect({ server: { address: '::1', port: v6.localPort }, username: USER.name, password: USER.password, rtoMs: 100 });
    try {
      const mapped = await c.binding();
      expect(mapped).toEqual(c.localAddress);
      const r = await c.allocate();
      expect(r.relayed[0].family).toBe(4);
      expect(r.mapped).toEqual(c.localAddress);
    } finally {
      await c.close();
      await v6.close();
    }
  });
});
