/**
 * LatencyHistogram: a fixed-size latency histogram in microseconds, cheap enough to record every packet.
 *
 * Buckets: 1 µs wide up to 10 ms, then 100 µs wide up to 1 s; anything above lands in an overflow bucket
 * (reported as the largest value seen). Recording is one division and one array increment.
 */
const FINE_LIMIT_US = 10_000;
const COARSE_STEP_US = 100;
const COARSE_LIMIT_US = 1_000_000;
const FINE_BUCKETS = FINE_LIMIT_US;
const COARSE_BUCKETS = (COARSE_LIMIT_US - FINE_LIMIT_US) / COARSE_STEP_US;

export interface LatencySummary {
  count: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

export class LatencyHistogram {
  private readonly buckets = new Uint32Array(FINE_BUCKETS + COARSE_BUCKETS + 1);
  private n = 0;
  private max = 0;

  /** Records one latency given in microseconds (negative values count as 0). */
  record(us: number): void {
    let b: number;
    if (us < FINE_LIMIT_US) b = us > 0 ? us | 0 : 0;
    else if (us < COARSE_LIMIT_US) b = FINE_BUCKETS + (((us - FINE_LIMIT_US) / COARSE_STEP_US) | 0);
    else b = FINE_BUCKETS + COARSE_BUCKETS;
    this.buckets[b]++;
    this.n++;
    if (us > this.max) this.max = us;
  }

  get count(): number {
    return this.n;
  }

  reset(): void {
    this.buckets.fill(0);
    this.n = 0;
    this.max = 0;
  }

  /** The value (µs, bucket lower bound) below which a fraction q of the samples lie; NaN when empty. */
  quantile(q: number): number {
    if (this.n === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.n));
    let seen = 0;
    for (let b = 0; b < this.buckets.length; b++) {
      seen += this.buckets[b];
      if (seen >= rank) {
        if (b < FINE_BUCKETS) return b;
        if (b < FINE_BUCKETS + COARSE_BUCKETS) return FINE_LIMIT_US + (b - FINE_BUCKETS) * COARSE_STEP_US;
        return this.max;
      }
    }
    return this.max;
  }

  summary(): LatencySummary {
    return { count: this.n, p50Us: this.quantile(0.5), p99Us: this.quantile(0.99), maxUs: Math.round(this.max) };
  }
}
