import { describe, expect, it } from 'vitest';
import { clientKey, familyOf, fiveTupleOf, formatFiveTuple, transportId } from '../../../../relay/turn/five-tuple.js';
import { FakeTransport } from './fakes.js';

describe('five-tuple', () => {
  it('keys a client by transport, address and port', () => {
    const t1 = new FakeTransport();
    const t2 = new FakeTransport('tcp');
    expect(clientKey(t1, '198.51.100.1', 5000)).toBe(clientKey(t1, '198.51.100.1', 5000));
    expect(clientKey(t1, '198.51.100.1', 5000)).not.toBe(clientKey(t2, '198.51.100.1', 5000));
    expect(clientKey(t1, '198.51.100.1', 5000)).not.toBe(clientKey(t1, '198.51.100.1', 5001));
    expect(clientKey(t1, '198.51.100.1', 5000)).not.toBe(clientKey(t1, '198.51.100.10', 500));
    expect(transportId(t1)).toBe(transportId(t1));
    expect(transportId(t1)).not.toBe(transportId(t2));
  });

  it('builds and formats the 5-tuple', () => {
    const t = new FakeTransport('tls');
    const ft = fiveTupleOf(t, '2001:db8::7', 40000);
    expect(ft).toEqual({ protocol: 'tls', clientAddress: '2001:db8::7', clientPort: 40000, serverAddress: '192.0.2.1', serverPort: 3478 });
    expect(formatFiveTuple(ft)).toBe('tls [2001:db8::7]:40000 -> 192.0.2.1:3478');
    expect(familyOf('10.0.0.1')).toBe(4);
    expect(familyOf('::ffff:10.0.0.1')).toBe(6);
  });
});
