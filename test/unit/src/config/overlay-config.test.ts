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
