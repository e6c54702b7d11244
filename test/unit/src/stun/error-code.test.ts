import { describe, expect, it } from 'vitest';
import { StunErrorCode, reasonPhrase } from '../../../../src/stun/index.js';

describe('reasonPhrase', () => {
  it('returns the RFC phrases', () => {
    expect(reasonPhrase(300)).toBe('Try Alternate');
    expect(reasonPhrase(400)).toBe('Bad Request');
    expect(reasonPhrase(401)).toBe('Unauthorized');
    expect(reasonPhrase(403)).toBe('Forbidden');
    expect(reasonPhrase(420)).toBe('Unknown Attribute');
    expect(reasonPhrase(437)).toBe('Allocation Mismatch');
    expect(reasonPhrase(438)).toBe('Stale Nonce');
    expect(reasonPhrase(440)).toBe('Address Family not Supported');
    expect(reasonPhrase(441)).toBe('Wrong Credentials');
    expect(reasonPhrase(442)).toBe('Unsupported Transport Protocol');
    expect(reasonPhrase(443)).toBe('Peer Address Family Mismatch');
    expect(reasonPhrase(486)).toBe('Allocation Quota Reached');
    expect(reasonPhrase(500)).toBe('Server Error');
    expect(reasonPhrase(508)).toBe('Insufficient Capacity');
  });

  it('has a phrase for every named code and a generic one otherwise', () => {
    for (const code of Object.values(StunErrorCode)) expect(reasonPhrase(code).length).toBeGreaterThan(0);
    expect(reasonPhrase(399)).toBe('Redirect');
    expect(reasonPhrase(499)).toBe('Bad Request');
    expect(reasonPhrase(599)).toBe('Server Error');
    expect(reasonPhrase(699)).toBe('Error');
  });
});
