import { describe, expect, it } from 'vitest';
import { loadRelayConfig } from '../../../../src/config/schema.js';

function configError(argv: string[]): string {
  try {
    loadRelayConfig(argv);
  } catch (err) {
    expect((err as { code?: string }).code).toBe('ATN_ERR_CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('loaded');
}

describe('capacity and egress config', () => {
  it('takes pop-distance, standby and egress, and refuses what cannot work', () => {
    const c = loadRelayConfig([
      '--pop', 'fra1', '--pop-distance', 'ams1=10', '--standby', '--standby-threshold', '0.7',
      '--listen', '10.9.9.11', '--relay-ip', '10.9.9.11', '--relay-ip', '10.9.9.21', '--egress', 'premium=10.9.9.21', '--egress', '*=10.9.9.11',
    ]);
    expect(c.popDistance).toEqual([{ pop: 'ams1', distance: 10 }]);
    expect([c.standby, c.standbyThreshold, c.standbyHysteresis]).toEqual([true, 0.7, 0.2]);
    expect(c.egress).toEqual([{ user: 'premium', address: '10.9.9.21' }, { user: '*', address: '10.9.9.11' }]);
    expect(configError(['--pop', 'fra1', '--pop-distance', 'fra1=1'])).toMatch(/^pop-distance\[0\]: fra1 is this relay's own PoP/);
    expect(configError(['--pop-distance', 'ams1'])).toMatch(/^pop-distance\[0\]: must be POP=DISTANCE/);
    expect(configError(['--standby-threshold', '0.2', '--standby-hysteresis', '0.3'])).toMatch(/^standby-hysteresis: must be below/);
    expect(configError(['--egress', 'premium=10.1.1.1'])).toMatch(/^egress\[0\]: 10.1.1.1 is not a relay-ip address/);
    expect(loadRelayConfig(['--listen', '10.9.9.11', '--uplink', 'up1=10.9.9.11']).uplink).toEqual([{ name: 'up1', address: '10.9.9.11' }]);
    expect(configError(['--listen', '10.9.9.11', '--uplink', 'up1=10.9.9.12'])).toMatch(/^uplink\[0\]: 10.9.9.12 is not a relay-ip address/);
    expect(configError(['--uplink', 'up 1=127.0.0.1'])).toMatch(/^uplink\[0\]: must be NAME=IP/);
    expect(configError(['--egress', 'premium'])).toMatch(/^egress\[0\]: must be USER=IP/);
  });
});

describe('overlay config', () => {
  it('takes overlay addresses in path order and the duplication policy', () => {
    const c = loadRelayConfig(['--overlay', '10.77.1.11:4000', '--overlay', '[fd00:77::11]:4000', '--overlay-duplicate', '*']);
    expect(c.overlay).toEqual([{ address: '10.77.1.11', port: 4000 }, { address: 'fd00:77::11', port: 4000 }]);
    expect(c.overlayDuplicate).toEqual(['*']);
  });

  it('refuses wildcards, duplicates, bad addresses and more than four paths with the key and the reason', () => {
    expect(configError(['--overlay', '0.0.0.0:4000'])).toMatch(/^overlay\[0\]: must be a specific address/);
    expect(configError(['--overlay', '10.0.0.1:4000', '--overlay', '10.0.0.1:4000'])).toMatch(/^overlay\[1\]: duplicate overlay address/);
    expect(configError(['--overlay', '10.0.0.1'])).toMatch(/^overlay\[0\]: must be IP:PORT/);
    const five = Array.from({ length: 5 }, (_, i) => ['--overlay', `10.0.0.${i + 1}:4000`]).flat();
    expect(configError(five)).toMatch(/^overlay/);
  });
});
