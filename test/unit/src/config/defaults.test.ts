/**
 * One source of defaults: a relay started with no settings runs its TURN core with exactly the TURN core's own
 * defaults (src/config/defaults.ts feeds both the config schema and relay/turn/turn-options.ts).
 */
import { describe, expect, it } from 'vitest';
import { loadRelayConfig } from '../../../../src/config/schema.js';
import { turnOptionsFrom } from '../../../../relay/daemon.js';
import { DEFAULT_TURN_OPTIONS, type TurnOptions } from '../../../../relay/turn/turn-options.js';

const SHARED = [
  'realm', 'software', 'minPort', 'maxPort', 'capacity', 'userQuota', 'maxBytesPerSecond', 'maxLifetimeSeconds',
  'defaultLifetimeSeconds', 'permissionLifetimeSeconds', 'channelLifetimeSeconds', 'denyPeers',
] as const satisfies readonly (keyof TurnOptions)[];

describe('defaults', () => {
  it('the default config gives the TURN core its own defaults', () => {
    const fromConfig = turnOptionsFrom(loadRelayConfig([]), []);
    const pick = (o: TurnOptions) => Object.fromEntries(SHARED.map((k) => [k, o[k]]));
    expect(pick(fromConfig)).toEqual(pick(DEFAULT_TURN_OPTIONS));
  });
});
