/**
 * The text `anyturn status` prints (pure): PoPs with their BGP state, then relays.
 */
import type { ConnectionState, PopSummary, RelayAddress, RelayRecord } from './types.js';

export interface StatusView {
  /** Where the data comes from (redacted URL). */
  source: string;
  connection: ConnectionState;
  now: number;
  pops: PopSummary[];
  relays: RelayRecord[];
}

export function renderStatus(view: StatusView): string {
  const head = `cluster store: ${view.source} (${view.connection === 'up' ? 'up' : 'DOWN: last known state'})  ${new Date(view.now).toISOString()}`;
  const pops = table(
    ['POP', 'BGP', 'RELAYS', 'ACTIVE', 'FULL', 'DRAINING', 'LOAD', 'ALLOCS', 'CAPACITY', 'BANDWIDTH', 'REASON'],
    view.pops.map((p) => [
      p.pop,
      bgpText(p),
      String(p.relays),
      String(p.activeRelays),
      String(p.fullRelays),
      String(p.drainingRelays),
      p.load.toFixed(2),
      String(p.allocations),
      String(p.capacity),
      formatBandwidth(p.bandwidthBps),
      p.announcements.map((a) => a.reason).join('; ') || '-',
    ]),
  );
  const relays = table(
    ['RELAY', 'POP', 'STATE', 'LOAD', 'ALLOCS', 'CAPACITY', 'BANDWIDTH', 'SEEN', 'ADDRESSES'],
    view.relays.map((r) => [
      r.id,
      r.pop,
      r.state,
      r.load.toFixed(2),
      String(r.allocations),
      String(r.capacity),
      formatBandwidth(r.bandwidthBps),
      formatAge(view.now - r.updatedAt),
      r.addresses.map(formatAddress).join(', ') || '-',
    ]),
  );
  const popsText = view.pops.length === 0 ? '(no PoPs)' : pops;
  const relaysText = view.relays.length === 0 ? '(no relays registered)' : relays;
  const overlay = overlayTable(view.relays);
  return `${head}\n\n${popsText}\n\n${relaysText}\n${overlay === undefined ? '' : `\n${overlay}\n`}`;
}

/** One row per relay × peer relay × overlay path (what the receiving relay measured); undefined without overlay. */
function overlayTable(relays: readonly RelayRecord[]): string | undefined {
  const rows: string[][] = [];
  for (const r of relays) {
    for (const p of r.overlay?.paths ?? []) {
      rows.push([
        r.id, p.peer, String(p.path), p.up ? 'up' : 'DOWN',
        p.rttMs === undefined ? '-' : `${p.rttMs.toFixed(2)} ms`, `${(p.loss * 100).toFixed(2)}%`, String(p.duplicates),
      ]);
    }
  }
  if (rows.length === 0) return undefined;
  return table(['OVERLAY', 'PEER', 'PATH', 'STATE', 'RTT', 'LOSS', 'DUPLICATES'], rows);
}

/** `announce`, `announce +2`, `withdrawn`, `-` (no agent); several agents joined by `/`. */
export function bgpText(p: PopSummary): string {
  if (p.announcements.length === 0) return '-';
  return p.announcements
    .map((a) => (a.action === 'withdraw' ? 'withdrawn' : a.prepend > 0 ? `announce +${a.prepend}` : 'announce'))
    .join(' / ');
}

export function formatBandwidth(bps: number): string {
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
  let v = bps;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${Math.round(v)} ${units[0]}` : `${v.toFixed(1)} ${units[i]}`;
}

export function formatAge(ms: number): string {
  if (ms < 0) return '0s';
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  return `${Math.round(ms / 60_000)}m`;
}

function formatAddress(a: RelayAddress): string {
  return `${a.transport} ${a.family === 6 ? `[${a.address}]` : a.address}:${a.port}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
