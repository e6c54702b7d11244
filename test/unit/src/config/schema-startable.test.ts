/**
 * Configs that would start and then refuse every client (issue 10 "config that cannot start silently broken",
 * issue 11 item 5) stop at the schema with ATN_ERR_CONFIG_INVALID naming the key and the reason.
 */
import { describe, expect, it } from 'vitest';
import { loadRelayConfig } from '../../../../src/config/schema.js';
import { invalid } from './fixtures.js';

const KEY = '00112233445566778899aabbccddeeff';

describe('relay config that could not serve anyone', () => {
  it('anycast needs a shared nonce key: --nonce-key, or a cluster store (--redis) that carries the fleet key', () => {
    expect(invalid(['--listen', '10.0.0.1', '--anycast', '192.0.2.1'])).toMatch(/^nonce-key: is required with anycast unless redis is given: every relay behind G must accept the nonces the others issue/);
    expect(loadRelayConfig(['--listen', '10.0.0.1', '--anycast', '192.0.2.1', '--nonce-key', KEY]).anycast).toEqual(['192.0.2.1']);
    expect(loadRelayConfig(['--listen', '10.0.0.1', '--anycast', '192.0.2.1', '--redis', 'redis://10.0.0.9:6379']).nonceKeyGiven).toBeUndefined();
    expect(loadRelayConfig(['--listen', '10.0.0.1']).anycast).toEqual([]); // no anycast: a per-process key is fine
  });

  it('anycast refuses a wildcard listen, and a loopback one when G is reached from elsewhere', () => {
    const base = ['--anycast', '192.0.2.1', '--nonce-key', KEY];
    expect(invalid([...base, '--listen', '0.0.0.0', '--relay-ip', '10.0.0.1'])).toMatch(/^listen\[0\]: 0\.0\.0\.0 cannot be used with anycast/);
    expect(invalid([...base, '--listen', '::', '--relay-ip', '2001:db8::5'])).toMatch(/^listen\[0\]: :: cannot be used with anycast/);
    expect(invalid([...base, '--listen', '10.0.0.1', '--listen', '127.0.0.1'])).toBe(
      "listen[1]: 127.0.0.1 is loopback: clients reaching G from elsewhere would be redirected to it (listen on the relay's unicast address)",
    );
    expect(invalid([...base, '--listen', '::1'])).toMatch(/^listen\[0\]: ::1 is loopback/);
    // Behind 1:1 NAT the loopback address is advertised as PUBLIC; with G itself on loopback, clients are local.
    expect(loadRelayConfig([...base, '--listen', '127.0.0.1', '--external-ip', '198.51.100.7']).listen).toEqual(['127.0.0.1']);
    expect(loadRelayConfig(['--anycast', '127.0.0.2', '--nonce-key', KEY]).listen).toEqual(['127.0.0.1']);
  });

  it('--race single needs the cluster store (the PoP registry chooses the one relay)', () => {
    expect(invalid(['--race', 'single'])).toBe("race: single needs redis (the PoP's relay registry chooses the one relay); without it every relay answers");
    expect(loadRelayConfig(['--race', 'single', '--redis', 'redis://10.0.0.9:6379']).race).toBe('single');
  });

  it('a relay port range that is only the listener port is refused', () => {
    expect(invalid(['--port', '3478', '--min-port', '3478', '--max-port', '3478'])).toBe(
      'min-port: the relay port range 3478-3478 is only the listener port, which the UDP listener holds on 127.0.0.1: no port is left to relay on',
    );
    expect(invalid(['--listen', '0.0.0.0', '--relay-ip', '10.0.0.1', '--port', '4000', '--min-port', '4000', '--max-port', '4000']))
      .toMatch(/^min-port: the relay port range 4000-4000 is only the listener port, which the UDP listener holds on 10\.0\.0\.1/);
    // Another relay-ip, or a range with one more port, leaves a port to relay on.
    expect(loadRelayConfig(['--relay-ip', '127.0.0.5', '--port', '3478', '--min-port', '3478', '--max-port', '3478']).minPort).toBe(3478);
    expect(loadRelayConfig(['--port', '3478', '--min-port', '3478', '--max-port', '3479']).maxPort).toBe(3479);
  });

  it('peer CIDRs with host bits are refused (10.0.0.1/8: the network or the host?)', () => {
    expect(invalid(['--allow-peer', '10.0.0.1/8'])).toBe('allow-peer[0]: 10.0.0.1/8 has host bits set: write the network address or 10.0.0.1/32 for the one host');
    expect(invalid(['--deny-peer', '2001:db8::1/64'])).toBe('deny-peer[0]: 2001:db8::1/64 has host bits set: write the network address or 2001:db8::1/128 for the one host');
    expect(loadRelayConfig(['--allow-peer', '10.0.0.0/8', '--allow-peer', '10.0.0.1']).allowPeer).toEqual(['10.0.0.0/8', '10.0.0.1/32']);
  });

  it('an external-ip PUBLIC on loopback is refused (no client elsewhere reaches it)', () => {
    expect(invalid(['--listen', '10.0.0.1', '--external-ip', '127.0.0.9'])).toBe('external-ip[0]: PUBLIC 127.0.0.9 is a loopback address: no client elsewhere can reach it');
    expect(invalid(['--listen', '2001:db8::5', '--external-ip', '::1'])).toMatch(/^external-ip\[0\]: PUBLIC ::1 is a loopback address/);
  });
});
