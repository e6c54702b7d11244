/**
 * Per-tenant egress on a real TurnServer with two relay addresses (127.0.0.1 and 127.0.0.2): allocations of the
 * tenant named in the egress table always get its relay address, everyone else the '*' one; without a table the
 * addresses are used in turn.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { USER, USER2, startRelay, type Relay } from './relay-fixture.js';

let relay: Relay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

describe('per-tenant egress', () => {
  it('pins a tenant to its relay address and the rest to the * address', async () => {
    relay = await startRelay({
      relayAddresses: ['127.0.0.1', '127.0.0.2'],
      egress: [{ user: USER.name, address: '127.0.0.2' }, { user: '*', address: '127.0.0.1' }],
    });
    for (let i = 0; i < 4; i++) {
      const premium = await relay.client();
      expect((await premium.allocate()).relayed[0].address).toBe('127.0.0.2');
      const other = await relay.client({ username: USER2.name, password: USER2.password });
      expect((await other.allocate()).relayed[0].address).toBe('127.0.0.1');
    }
  });

  it('without a table, allocations take the relay addresses in turn', async () => {
    relay = await startRelay({ relayAddresses: ['127.0.0.1', '127.0.0.2'] });
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await (await relay.client()).allocate()).relayed[0].address);
    expect([...seen].sort()).toEqual(['127.0.0.1', '127.0.0.2']);
  });
});
