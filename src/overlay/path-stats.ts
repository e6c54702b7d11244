/**
 * What a receiver learns about one overlay path from the packets themselves:
 *  - loss from packet id gaps: per flow the highest id seen on this path; an id above it adds the gap to
 *    `expected`, every arrival adds 1 to `received` (late arrivals of a gap count as received, so over a window
 *    loss = 1 - Δreceived / Δexpected);
 *  - RTT from the piggy-backed echo (wire.ts): RTT = now - echo reference - echo delta, all in µs of the clocks
 *    that wrote them (each side only subtracts its own timestamps), smoothed as in RFC 6298 (α = 1/8).
 * Plain numbers: read by metrics and status, never per packet elsewhere.
 */

/** Per-flow, per-path state of the gap counter. */
export interface PathFlowState {
  highest: number;
}

/** Echoes older than this are ignored (a timestamp that wrapped, or a stale reference). */
const MAX_RTT_US = 10_000_000;
const U32 = 0x1_0000_0000;

export class PathStats {
  /** Packets the ids say should have arrived on this path. */
  expected = 0;
  received = 0;
  /** Copies dropped by the dedup window (the other path was first). */
  duplicates = 0;
  /** Smoothed RTT (µs); undefined before the first sample. */
  srttUs: number | undefined = undefined;
  lastRttUs: number | undefined = undefined;

  /** One packet of a flow arrived on this path. */
  arrived(flow: PathFlowState, packetId: number): void {
    this.received += 1;
    if (packetId > flow.highest) {
      this.expected += flow.highest < 0 ? 1 : packetId - flow.highest;
      flow.highest = packetId;
    }
  }

  /** An echo came back: `nowUs`, `referenceUs` and `deltaUs` are u32 microsecond values. */
  echo(nowUs: number, referenceUs: number, deltaUs: number): void {
    const rtt = (((nowUs - referenceUs - deltaUs) % U32) + U32) % U32;
    if (rtt > MAX_RTT_US) return;
    this.lastRttUs = rtt;
    this.srttUs = this.srttUs === undefined ? rtt : this.srttUs + (rtt - this.srttUs) / 8;
  }

  /** Fraction of expected packets that did not arrive (0 before any). */
  get lossRatio(): number {
    return this.expected === 0 ? 0 : Math.max(0, 1 - this.received / this.expected);
  }
}
