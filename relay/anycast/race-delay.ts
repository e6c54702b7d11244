/**
 * The anycast race (US 9,426,055): every relay of the PoP receives the same datagram sent to G and answers
 * after a delay that grows with its load score; the client follows the first answer, so the least-loaded relay
 * wins. Pure.
 *
 *   linear     delay = maxDelayMs * score
 *   quadratic  delay = maxDelayMs * score²     (little delay while lightly loaded, steep near full)
 *
 * score >= 1 (full) or draining: no answer at all.
 *
 * With linear and the default 100 ms, two relays whose scores differ by 0.1 (100 allocations out of 1000) answer
 * 10 ms apart, well above the jitter of a PoP LAN. The delay stays far below the client's first retransmission
 * timer (RFC 8489 RTO 500 ms; libwebrtc 250 ms), so a fully loaded PoP still answers before a retransmit.
 */
import type { RaceCurve } from '../../src/config/schema.js';
import { assertNever } from '../../src/errors.js';

export type SilenceReason = 'full' | 'draining';

export type RaceDecision = { kind: 'answer'; delayMs: number } | { kind: 'silent'; reason: SilenceReason };

/** Delay in ms (fractional) for a score in [0, 1); scores outside are clamped. */
export function raceDelayMs(score: number, maxDelayMs: number, curve: RaceCurve): number {
  const s = !(score > 0) ? 0 : score >= 1 ? 1 : score;
  const max = maxDelayMs > 0 ? maxDelayMs : 0;
  switch (curve) {
    case 'linear':
      return max * s;
    case 'quadratic':
      return max * s * s;
    default:
      return assertNever(curve);
  }
}

/** Answer (after how long) or stay silent. Draining wins over full. */
export function raceDecision(score: number, draining: boolean, maxDelayMs: number, curve: RaceCurve): RaceDecision {
  if (draining) return { kind: 'silent', reason: 'draining' };
  if (score >= 1) return { kind: 'silent', reason: 'full' };
  return { kind: 'answer', delayMs: raceDelayMs(score, maxDelayMs, curve) };
}
