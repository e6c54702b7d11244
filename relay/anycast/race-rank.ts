/**
 * Who answers a request on the anycast address first: a deterministic order of the PoP's relays per request,
 * computed by every relay from the same inputs (the presences of the race group), so that they agree without
 * talking about the request itself.
 *
 *   order by  1. load step (the load score quantised to 1/LOAD_STEPS; lower first: the least-loaded relay wins)
 *             2. hash53(request key # relay id)   (ties at equal load: an even, per-request spread — rendezvous)
 *             3. relay id                         (hash ties, vanishingly rare)
 *
 * A relay's rank is how many relays come before it. Rank 0 answers at once; rank r waits r race steps and
 * answers only when no claim for the request arrived meanwhile (responder.ts). Pure.
 */
import { hash53, LOAD_STEPS } from './single-responder.js';

export interface RaceCandidate {
  readonly id: string;
  /** Load score quantised to 0..LOAD_STEPS. */
  readonly loadStep: number;
}

/** The load step of a score in [0, 1] (NaN and negatives count as 0; >= 1 as LOAD_STEPS). */
export function loadStepOf(score: number): number {
  if (!(score > 0)) return 0;
  if (score >= 1) return LOAD_STEPS;
  return Math.floor(score * LOAD_STEPS);
}

/**
 * The key of one request on G, the same on every relay that received the datagram. The hash of the request's
 * bytes is part of it: some clients reuse one transaction id for the challenged Allocate and its authenticated
 * retry, two requests whose races (and claims) must not be taken for each other; a retransmission has the same
 * bytes, hence the same key.
 */
export function raceKeyOf(clientAddress: string, clientPort: number, transactionId: Buffer, requestHash: number): string {
  return `${clientAddress}|${clientPort}|${transactionId.toString('hex')}|${requestHash >>> 0}`;
}

/** FNV-1a (32 bits) of the request's bytes: cheap, and the same on every relay. */
export function requestHashOf(raw: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < raw.length; i++) h = Math.imul(h ^ raw[i], 0x01000193);
  return h >>> 0;
}

/** How many of `others` come before `self` for `requestKey`. */
export function raceRank(requestKey: string, self: RaceCandidate, others: Iterable<RaceCandidate>): number {
  let selfHash: number | undefined;
  let rank = 0;
  for (const other of others) {
    if (other.id === self.id) continue;
    if (other.loadStep < self.loadStep) {
      rank++;
      continue;
    }
    if (other.loadStep > self.loadStep) continue;
    selfHash ??= hash53(`${requestKey}#${self.id}`);
    const h = hash53(`${requestKey}#${other.id}`);
    if (h < selfHash || (h === selfHash && other.id < self.id)) rank++;
  }
  return rank;
}
