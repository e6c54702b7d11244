/**
 * StreamGuard admission and budget (relay/listen/stream-guard.ts) and the connection total derived from the fd
 * limit (relay/listen/fd-limit.ts).
 */
import { describe, expect, it } from 'vitest';
import { CONTROL_PLANE_FDS, MIN_STREAM_CONNECTIONS, fdBudget, softNoFileLimit } from '../../../../relay/listen/fd-limit.js';
import { StreamGuard, sourceKey } from '../../../../relay/listen/stream-guard.js';

const options = { maxConnections: 5, maxPerSource: 2, maxBufferedBytes: 1000, requestTimeoutMs: 1000, idleTimeoutMs: 30_000 };

describe('StreamGuard', () => {
  it('admits per source (IPv4 address, IPv6 /64) and in total, and releases', () => {
    const g = new StreamGuard(options);
    expect(g.admit('192.0.2.1')).toBe('ok');
    expect(g.admit('::ffff:192.0.2.1')).toBe('ok'); // the same host through a dual-stack socket
    expect(g.admit('192.0.2.1')).toBe('per-source');
    expect(g.admit('2001:db8:1:2::5')).toBe('ok');
    expect(g.admit('2001:db8:1:2:ffff::9')).toBe('ok');
    expect(g.admit('2001:0db8:0001:0002::77')).toBe('per-source'); // same /64, other spelling
    expect(g.admit('2001:db8:1:3::5')).toBe('ok');
    expect(g.connections).toBe(5);
    expect(g.admit('198.51.100.1')).toBe('total');
    g.release('192.0.2.1');
    expect(g.admit('192.0.2.1')).toBe('ok');
    expect(g.admit('198.51.100.1')).toBe('total');
    g.release('203.0.113.9'); // never admitted: no effect
    expect(g.connections).toBe(5);
  });

  it('lends buffer bytes up to the budget', () => {
    const g = new StreamGuard(options);
    expect(g.reserve(600)).toBe(true);
    expect(g.reserve(500)).toBe(false);
    expect(g.reserve(400)).toBe(true);
    expect(g.bufferedBytes).toBe(1000);
    g.unreserve(600);
    expect(g.bufferedBytes).toBe(400);
  });

  it('source keys', () => {
    expect(sourceKey('10.0.0.1')).toBe('10.0.0.1');
    expect(sourceKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(sourceKey('fe80::1')).toBe('fe80:0:0:0::/64');
    expect(sourceKey('2001:DB8::1')).toBe('2001:db8:0:0::/64');
  });
});

describe('the TCP/TLS connection total from RLIMIT_NOFILE', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                1048576              files\n';
    expect(softNoFileLimit(text)).toBe(20000);
    expect(softNoFileLimit('Max open files            unlimited            unlimited            files\n')).toBe(Number.POSITIVE_INFINITY);
    expect(softNoFileLimit('nothing useful')).toBe(1024);
    expect(softNoFileLimit()).toBeGreaterThan(0); // this process
  });

  it('leaves one fd per allocation and the control plane, at least a floor', () => {
    expect(fdBudget(10_000, 20_000)).toEqual({ noFile: 20_000, streamConnections: 20_000 - 10_000 - CONTROL_PLANE_FDS, short: false });
    expect(fdBudget(10_000, 65_536).streamConnections).toBe(65_536 - 10_000 - CONTROL_PLANE_FDS);
    expect(fdBudget(10_000, 1024)).toEqual({ noFile: 1024, streamConnections: MIN_STREAM_CONNECTIONS, short: true });
  });
});
