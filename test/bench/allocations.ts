/**
 * AllocationBurst: K allocations, one client socket (5-tuple) each, created with bounded concurrency and timed,
 * then held idle (to weigh the server's memory per allocation) and finally deleted with Refresh lifetime 0.
 *
 * Each Allocate is a full handshake as a browser does it: unauthenticated Allocate → 401 (REALM, NONCE) →
 * authenticated Allocate → success, i.e. two request/response round trips and one HMAC check on the server.
 */
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import type { TransportAddress } from '../../src/stun/index.js';
import { TurnRequestError, TurnSession, type Endpoint, type TurnCredentials } from './turn-client.js';

/** The channel number of the bursts' ChannelBind. */
const BENCH_CHANNEL = 0x4000;

export interface BurstResult {
  requested: number;
  ok: number;
  failed: number;
  elapsedMs: number;
  perSecond: number;
  retransmits: number;
  /** Failure reasons (STUN error code or 'timeout') and their counts. */
  errors: Record<string, number>;
  /** Time from the first Allocate to the success of the authenticated one, per allocation. */
  handshake: LatencySummary;
  generatorCpuPct: number;
}

export interface ReleaseResult {
  released: number;
  failed: number;
  elapsedMs: number;
}

/** Runs `work(i)` for i in [0, n) with at most `concurrency` running at once. */
async function pool(n: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes: Promise<void>[] = [];
  for (let l = 0; l < Math.min(concurrency, n); l++) {
    lanes.push(
      (async () => {
        while (next < n) await work(next++);
      })(),
    );
  }
  await Promise.all(lanes);
}

function reasonOf(err: unknown): string {
  return err instanceof TurnRequestError ? String(err.code) : 'error';
}

export class AllocationBurst {
  private constructor(
    private readonly sessions: TurnSession[],
    private readonly allocated: boolean[],
  ) {}

  /** Opens `count` client sockets (not timed: a real client population already has its sockets). */
  static async open(server: Endpoint, creds: TurnCredentials, count: number, localAddress: string): Promise<AllocationBurst> {
    const sessions: TurnSession[] = new Array<TurnSession>(count);
    try {
      await pool(count, 256, async (i) => {
        sessions[i] = await TurnSession.open(server, creds, localAddress);
      });
    } catch (err) {
      for (const s of sessions) s?.close();
      throw err;
    }
    return new AllocationBurst(sessions, new Array<boolean>(count).fill(false));
  }

  get size(): number {
    return this.sessions.length;
  }

  /**
   * Allocates on every socket, at most `concurrency` handshakes in flight; timed from first send to last answer.
   * With `bindTo`, each handshake goes on with a ChannelBind to that peer (which installs the permission too, and
   * where a kernel fast path installs its entry): the handshake a browser makes before media flows.
   */
  async allocateAll(concurrency: number, bindTo?: TransportAddress): Promise<BurstResult> {
    const errors: Record<string, number> = {};
    const handshake = new LatencyHistogram();
    let ok = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await pool(this.sessions.length, concurrency, async (i) => {
      const started = performance.now();
      try {
        await this.sessions[i].allocate();
        this.allocated[i] = true;
        if (bindTo !== undefined) await this.sessions[i].channelBind(BENCH_CHANNEL, bindTo);
        ok++;
        handshake.record((performance.now() - started) * 1000);
      } catch (err) {
        const r = reasonOf(err);
        errors[r] = (errors[r] ?? 0) + 1;
      }
    });
    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    let retransmits = 0;
    for (const s of this.sessions) retransmits += s.retransmits;
    return {
      requested: this.sessions.length,
      ok,
      failed: this.sessions.length - ok,
      elapsedMs,
      perSecond: (ok * 1000) / elapsedMs,
      retransmits,
      errors,
      handshake: handshake.summary(),
      generatorCpuPct: (cpu.user + cpu.system) / 10 / elapsedMs,
    };
  }

  /** Deletes every allocation (Refresh lifetime 0) and closes the sockets. */
  async release(concurrency: number): Promise<ReleaseResult> {
    let released = 0;
    const t0 = performance.now();
    await pool(this.sessions.length, concurrency, async (i) => {
      if (!this.allocated[i]) return;
      try {
        await this.sessions[i].refresh(0);
        this.allocated[i] = false;
        released++;
      } catch {
        /* counted below */
      }
    });
    const elapsedMs = performance.now() - t0;
    const failed = this.allocated.filter(Boolean).length;
    for (const s of this.sessions) s.close();
    return { released, failed, elapsedMs };
  }

  /** Closes the sockets without deleting the allocations (they expire on the server). */
  close(): void {
    for (const s of this.sessions) s.close();
  }
}
