/**
 * Per-PoP summaries derived from the relay registry and the agents' announcements
 * (pure; both stores use it).
 */
import type { AnnouncementRecord, PopSummary, RelayRecord } from './types.js';
import { assertNever } from '../errors.js';

export function summarize(relays: readonly RelayRecord[], announcements: readonly AnnouncementRecord[]): PopSummary[] {
  const pops = new Map<string, PopSummary & { loadSum: number; loadCount: number }>();
  const get = (pop: string) => {
    let s = pops.get(pop);
    if (s === undefined) {
      s = {
        pop,
        relays: 0,
        activeRelays: 0,
        drainingRelays: 0,
        fullRelays: 0,
        allocations: 0,
        capacity: 0,
        load: 0,
        bandwidthBps: 0,
        announcements: [],
        loadSum: 0,
        loadCount: 0,
      };
      pops.set(pop, s);
    }
    return s;
  };
  for (const r of relays) {
    const s = get(r.pop);
    s.relays++;
    s.allocations += r.allocations;
    s.capacity += r.capacity;
    s.bandwidthBps += r.bandwidthBps;
    switch (r.state) {
      case 'active':
        s.activeRelays++;
        s.loadSum += Math.min(1, Math.max(0, r.load));
        s.loadCount++;
        break;
      case 'full':
        s.fullRelays++;
        s.loadSum += 1;
        s.loadCount++;
        break;
      case 'draining':
        s.drainingRelays++;
        break;
      default:
        assertNever(r.state);
    }
  }
  for (const a of announcements) get(a.pop).announcements.push(a);
  return [...pops.values()]
    .sort((a, b) => (a.pop < b.pop ? -1 : a.pop > b.pop ? 1 : 0))
    .map(({ loadSum, loadCount, ...s }) => ({
      ...s,
      load: loadCount > 0 ? loadSum / loadCount : 0,
      announcements: s.announcements.sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0)),
    }));
}
