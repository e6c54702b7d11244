/**
 * Channel bindings are bounded per allocation (`--channel-quota`) and per username over all its allocations
 * (`--user-channel-quota`): a new ChannelBind beyond either gets 508 (RFC 8656 §11.2), counted in
 * turn_channel_binds_refused_total{limit}; refreshing a bound channel always works, and the user's count falls
 * when an allocation ends. Real UDP listener, the test client, real relayed sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { USER2, codeOf, startPeer, startRelay, type Relay } from './relay-fixture.js';

const peer = (port: number) => ({ family: 4 as const, address: '127.0.0.1', port });

describe('channel bindings per allocation and per user', () => {
  let relay: Relay | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it('an allocation holds at most --channel-quota channels; refreshing one takes no new room; data still flows', async () => {
    relay = await startRelay({ maxChannelsPerAllocation: 3 });
    const c = await relay.client();
    await c.allocate();
    const real = await startPeer();
    try {
      await c.channelBind(0x4000, real.address);
      await c.channelBind(0x4001, peer(9001));
      await c.channelBind(0x4002, peer(9002));
      expect(await codeOf(c.channelBind(0x4003, peer(9003)))).toBe(508);
      expect(relay.metrics.channelsRefused('allocation')).toBe(1);
      await c.channelBind(0x4001, peer(9001)); // refresh
      c.sendChannelData(0x4000, Buffer.from('still relayed'));
      expect((await real.next()).data.toString()).toBe('still relayed');
      expect(await relay.registry.metrics()).toContain('turn_channel_binds_refused_total{limit="allocation"} 1');
    } finally {
      real.socket.close();
    }
  });

  it('a username holds at most --user-channel-quota channels over its allocations; ending one gives them back', async () => {
    relay = await startRelay({ userChannelQuota: 4 });
    const [a1, a2] = [await relay.client(), await relay.client()];
    await a1.allocate();
    await a2.allocate();
    for (let i = 0; i < 3; i++) await a1.channelBind(0x4000 + i, peer(9000 + i));
    await a2.channelBind(0x4000, peer(9100));
    expect(await codeOf(a2.channelBind(0x4001, peer(9101)))).toBe(508);
    expect(await codeOf(a1.channelBind(0x4003, peer(9003)))).toBe(508);
    expect(relay.metrics.channelsRefused('user')).toBe(2);
    // Another user is not affected.
    const b = await relay.client({ username: USER2.name, password: USER2.password });
    await b.allocate();
    await b.channelBind(0x4000, peer(9200));
    // a1's allocation ends (Refresh 0): its three channels no longer count against alice.
    await a1.refresh(0);
    for (let i = 1; i < 4; i++) await a2.channelBind(0x4000 + i, peer(9101 + i));
    expect(await codeOf(a2.channelBind(0x4004, peer(9110)))).toBe(508);
  });
});
