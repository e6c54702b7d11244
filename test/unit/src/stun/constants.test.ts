import { describe, expect, it } from 'vitest';
import {
  Attr,
  KNOWN_ATTRIBUTES,
  Method,
  StunClass,
  classOf,
  isComprehensionRequired,
  messageType,
  methodOf,
} from '../../../../src/stun/index.js';

describe('message type encoding (RFC 8489 §5)', () => {
  it('matches the well-known type values', () => {
    expect(messageType(Method.Binding, StunClass.Request)).toBe(0x0001);
    expect(messageType(Method.Binding, StunClass.Indication)).toBe(0x0011);
    expect(messageType(Method.Binding, StunClass.SuccessResponse)).toBe(0x0101);
    expect(messageType(Method.Binding, StunClass.ErrorResponse)).toBe(0x0111);
    expect(messageType(Method.Allocate, StunClass.Request)).toBe(0x0003);
    expect(messageType(Method.Allocate, StunClass.ErrorResponse)).toBe(0x0113);
    expect(messageType(Method.Send, StunClass.Indication)).toBe(0x0016);
    expect(messageType(Method.Data, StunClass.Indication)).toBe(0x0017);
    expect(messageType(Method.ChannelBind, StunClass.SuccessResponse)).toBe(0x0109);
    expect(messageType(Method.ConnectionAttempt, StunClass.Indication)).toBe(0x001c);
  });

  it('round-trips every 12-bit method and class', () => {
    for (let method = 0; method < 0x1000; method++) {
      for (const cls of [0, 1, 2, 3] as const) {
        const t = messageType(method, cls);
        expect(t).toBeLessThan(0x4000);
        if (methodOf(t) !== method || classOf(t) !== cls) throw new Error(`round trip failed for ${method}/${cls}`);
      }
    }
  });
});

describe('attributes', () => {
  it('classifies comprehension-required types', () => {
    expect(isComprehensionRequired(Attr.USERNAME)).toBe(true);
    expect(isComprehensionRequired(0x7fff)).toBe(true);
    expect(isComprehensionRequired(0x8000)).toBe(false);
    expect(isComprehensionRequired(Attr.FINGERPRINT)).toBe(false);
  });

  it('knows every named attribute and nothing else', () => {
    expect(KNOWN_ATTRIBUTES.size).toBe(Object.keys(Attr).length);
    for (const t of Object.values(Attr)) expect(KNOWN_ATTRIBUTES.has(t)).toBe(true);
    expect(KNOWN_ATTRIBUTES.has(0x0003)).toBe(false);
  });
});
