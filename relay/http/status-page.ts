/**
 * The relay's live page (GET / and /status.html on the --metrics server) and the JSON it reads besides /status:
 *
 *   GET /cluster   ClusterView: the store's kind and connection, its clock (`now`, for heartbeat ages), the
 *                  per-PoP summaries, every live relay record and the router agents' announcements. From the
 *                  in-memory store (no --redis) that is this relay only.
 *
 * The page is one self-contained document (inline CSS and script, no external asset, works offline) that polls
 * `status` and `cluster` (relative URLs, so it also works behind a path prefix) once a second. Everything that
 * comes from those documents reaches the DOM through textContent, never markup: a relay id, PoP name or reason
 * read from a shared store is data. The Content-Security-Policy allows exactly the inline style and script below
 * (by hash) and fetches to the page's own origin.
 */
import { createHash } from 'node:crypto';
import type { ClusterStore } from '../../src/cluster/store.js';
import type { AnnouncementRecord, ConnectionState, PopSummary, RelayRecord } from '../../src/cluster/types.js';

/** What GET /cluster answers. */
export interface ClusterView {
  store: ClusterStore['kind'];
  connection: ConnectionState;
  /** The relay's clock (ms since the epoch) when the view was taken: heartbeat age = now - updatedAt. */
  now: number;
  popSummaries: PopSummary[];
  relays: RelayRecord[];
  announcements: AnnouncementRecord[];
}

/** Reads the store's local cache (synchronous, never awaits the backend). */
export function clusterView(
  store: Pick<ClusterStore, 'kind' | 'connectionState' | 'popSummaries' | 'relays' | 'announcements'>,
  now: number,
): ClusterView {
  return {
    store: store.kind,
    connection: store.connectionState(),
    now,
    popSummaries: store.popSummaries(),
    relays: store.relays(),
    announcements: store.announcements(),
  };
}

const STYLE = `
:root{--bg:#f6f7f9;--panel:#fff;--text:#1b1f24;--muted:#5b6470;--line:#e2e5ea;--track:#e9ecf1;
--ok:#1f8f4e;--warn:#b7791f;--hot:#c53030;--idle:#718096;--accent:#2b6cb0;color-scheme:light dark}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--panel:#171b21;--text:#e6e9ee;--muted:#9aa4b2;
--line:#2a3039;--track:#252b34;--ok:#48bb78;--warn:#ecc94b;--hot:#fc8181;--idle:#a0aec0;--accent:#63b3ed}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--text);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;-webkit-font-smoothing:antialiased}
.wrap{max-width:1120px;margin:0 auto;padding:24px 20px 40px}
header{display:flex;flex-wrap:wrap;align-items:center;gap:10px 16px;margin-bottom:20px}
.brand{font-size:12px;letter-spacing:.08em;text-transform:uppercase;color:var(--muted);width:100%}
h1{margin:0;font-size:26px;font-weight:650;letter-spacing:-.01em;overflow-wrap:anywhere}
h1 .pop{font-weight:400;color:var(--muted);font-size:18px;margin-left:6px}
h2{margin:0 0 10px;font-size:12px;font-weight:600;letter-spacing:.06em;text-transform:uppercase;color:var(--muted)}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:13px;font-weight:600;
border:1px solid currentColor;white-space:nowrap}
.s-active,.s-announced,.s-up{color:var(--ok)}.s-draining,.s-prepend,.s-starting{color:var(--warn)}
.s-full,.s-withdrawn,.s-down,.s-stopping,.s-unreachable{color:var(--hot)}.s-none,.s-unknown{color:var(--idle)}
.updated{margin-left:auto;color:var(--muted);font-size:13px}
.cards{display:grid;grid-template-columns:repeat(6,minmax(0,1fr));gap:14px;margin-bottom:22px}
.card,.panel{background:var(--panel);border:1px solid var(--line);border-radius:10px;padding:16px 18px}
.card.wide{grid-column:span 2}
.big{font-size:30px;font-weight:650;font-variant-numeric:tabular-nums;letter-spacing:-.02em;white-space:nowrap;
overflow:hidden;text-overflow:ellipsis}
.big .of,.big .unit{font-size:16px;font-weight:400;color:var(--muted);letter-spacing:0}
.big .unit{margin-left:4px}
.sub{color:var(--muted);font-size:13px;margin-top:6px;font-variant-numeric:tabular-nums}
.bar{height:8px;background:var(--track);border-radius:4px;overflow:hidden;margin-top:10px}
.bar.small{height:6px;margin-top:4px;min-width:80px}
.bar>div{height:100%;width:0;background:var(--ok);border-radius:4px;transition:width .4s ease}
.bar>div.warn{background:var(--warn)}.bar>div.hot{background:var(--hot)}
.panel{margin-bottom:18px;overflow-x:auto}
table{width:100%;border-collapse:collapse;font-variant-numeric:tabular-nums}
th{text-align:left;font-size:12px;font-weight:600;color:var(--muted);padding:6px 10px;border-bottom:1px solid var(--line);
white-space:nowrap}
td{padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:middle}
td.name{white-space:nowrap;font-weight:550}
td.nowrap{white-space:nowrap}
td.reason{min-width:220px}
tr:last-child td{border-bottom:0}
td.num,th.num{text-align:right}
td.mono{font-family:ui-monospace,"SF Mono",Menlo,Consolas,monospace;font-size:13px}
tr.self td:first-child{box-shadow:inset 3px 0 0 var(--accent)}
.muted{color:var(--muted)}
.section-head{display:flex;flex-wrap:wrap;align-items:baseline;gap:6px 12px;margin:26px 0 12px}
.section-head h2{margin:0}
.note{color:var(--muted);margin:0;font-size:14px}
.stale .cards,.stale .panel{opacity:.55}
footer{color:var(--muted);font-size:12px;margin-top:24px}
footer a{color:var(--accent)}
@media (max-width:900px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}}
@media (max-width:560px){.big{font-size:24px}h1{font-size:22px}}
`;

/*
 * The page's script (plain ES2017, runs in the browser; not type-checked by tsc). Data is untrusted: numbers go
 * through num(), strings through String() into textContent.
 */
const SCRIPT = `
'use strict';
(function () {
  var INTERVAL_MS = 1000;
  var $ = function (id) { return document.getElementById(id); };
  var last = null;
  var lastOkAt = 0;
  var relayId = '';

  function num(v) { var n = Number(v); return isFinite(n) ? n : NaN; }
  function str(v) { return v === undefined || v === null ? '' : String(v); }
  function setText(id, text) { var e = $(id); if (e.textContent !== text) e.textContent = text; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = str(text);
    return e;
  }
  function cell(text, cls) { return el('td', cls, text); }
  function level(f) { return f >= 0.9 ? 'hot' : f >= 0.7 ? 'warn' : ''; }
  function fillBar(fill, fraction) {
    var f = isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
    fill.style.width = (f * 100).toFixed(1) + '%';
    fill.className = level(f);
  }
  function barCell(fraction, label) {
    var td = el('td');
    td.appendChild(el('div', '', label));
    var track = el('div', 'bar small');
    var fill = el('div');
    track.appendChild(fill);
    fillBar(fill, fraction);
    td.appendChild(track);
    return td;
  }
  function badge(text, state) { return el('span', 'badge s-' + state, text); }
  function fmtInt(n) { return isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'; }
  function fmtLoad(n) { return isFinite(n) ? n.toFixed(2) : '–'; }
  function bpsParts(bps) {
    if (!isFinite(bps)) return ['–', ''];
    var units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
    var v = Math.max(0, bps), i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return [i === 0 ? String(Math.round(v)) : v.toFixed(1), units[i]];
  }
  function fmtBps(bps) { var p = bpsParts(bps); return p[1] ? p[0] + ' ' + p[1] : p[0]; }
  function setRate(id, bps) {
    var p = bpsParts(bps);
    setText(id, p[0]);
    setText(id + '-unit', p[1]);
  }
  function fmtBytes(n) {
    var units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    var v = n, i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + ' ' + units[i];
  }
  function fmtDuration(s) {
    if (!isFinite(s)) return '–';
    s = Math.max(0, Math.floor(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    if (m > 0) return m + 'm ' + sec + 's';
    return sec + 's';
  }
  function fmtAge(ms) {
    if (!isFinite(ms)) return '–';
    if (ms < 0) ms = 0;
    if (ms < 10000) return (ms / 1000).toFixed(1) + ' s';
    if (ms < 120000) return Math.round(ms / 1000) + ' s';
    return Math.round(ms / 60000) + ' min';
  }
  function fmtAddress(a, port) {
    a = str(a);
    return (a.indexOf(':') >= 0 ? '[' + a + ']' : a) + ':' + str(port);
  }
  function stateOf(s) {
    var st = str(s);
    return st === 'active' || st === 'draining' || st === 'full' ? st : 'unknown';
  }
  function announcementState(list) {
    if (!Array.isArray(list) || list.length === 0) return { text: 'no agent', cls: 'none' };
    var parts = [], cls = 'announced';
    list.forEach(function (a) {
      if (a.action === 'withdraw') { parts.push('withdrawn'); cls = 'withdrawn'; }
      else if (num(a.prepend) > 0) { parts.push('prepend ' + num(a.prepend)); if (cls === 'announced') cls = 'prepend'; }
      else parts.push('announced');
    });
    return { text: parts.join(' / '), cls: cls };
  }

  function renderStatus(s, t) {
    relayId = str(s.id);
    setText('relay-id', relayId);
    setText('relay-pop', str(s.pop));
    document.title = relayId + ' · anyturn relay';
    var health = str(s.health);
    var state = stateOf(s.state !== undefined ? s.state : s.draining ? 'draining' : 'active');
    var shown = health === 'starting' || health === 'stopping' ? health : state;
    var b = $('relay-state');
    b.textContent = shown;
    b.className = 'badge s-' + shown;

    var allocations = num(s.allocations), capacity = num(s.capacity);
    setText('allocations', fmtInt(allocations));
    setText('capacity', fmtInt(capacity));
    var used = capacity > 0 ? allocations / capacity : NaN;
    fillBar($('allocations-bar'), used);
    setText('allocations-pct', isFinite(used) ? (used * 100).toFixed(1) + '% of capacity' : '');

    var load = num(s.load);
    setText('load', fmtLoad(load));
    fillBar($('load-bar'), load);

    var bytes = s.relayedBytes || {};
    var received = num(bytes.received), sent = num(bytes.sent);
    if (last && t > last.t && received >= last.received && sent >= last.sent) {
      var secs = (t - last.t) / 1000;
      setRate('bw-in', (received - last.received) * 8 / secs);
      setRate('bw-out', (sent - last.sent) * 8 / secs);
    }
    if (isFinite(received) && isFinite(sent)) last = { t: t, received: received, sent: sent };
    setText('bytes-in', isFinite(received) ? fmtBytes(received) + ' in total' : '');
    setText('bytes-out', isFinite(sent) ? fmtBytes(sent) + ' in total' : '');

    setText('uptime', fmtDuration(num(s.uptimeSeconds)));
    var c = s.connections || {};
    setText('connections', 'open connections: TCP ' + fmtInt(num(c.tcp)) + ' · TLS ' + fmtInt(num(c.tls)));

    var rows = (Array.isArray(s.listeners) ? s.listeners : []).map(function (l) {
      var tr = el('tr');
      tr.appendChild(cell(str(l.protocol).toUpperCase()));
      tr.appendChild(cell(str(l.role)));
      tr.appendChild(cell(fmtAddress(l.address, l.port), 'mono'));
      return tr;
    });
    $('listeners').replaceChildren.apply($('listeners'), rows);
  }

  function renderCluster(c) {
    var section = $('cluster');
    section.hidden = false;
    var shared = c.store === 'redis';
    var conn = str(c.connection) === 'up' ? 'up' : 'down';
    var b = $('cluster-store');
    b.textContent = shared ? (conn === 'up' ? 'redis connected' : 'redis unreachable') : 'in memory';
    b.className = 'badge s-' + (shared ? conn : 'none');
    setText('cluster-note', shared
      ? (conn === 'up' ? 'every relay and PoP in the shared store' : 'showing the last known state until Redis returns')
      : 'started without --redis: no cluster view, this relay only');
    $('cluster-tables').hidden = !shared;
    if (!shared) return;
    var now = num(c.now);

    var pops = (Array.isArray(c.popSummaries) ? c.popSummaries : []).map(function (p) {
      var tr = el('tr');
      tr.appendChild(cell(str(p.pop), 'name'));
      var a = announcementState(p.announcements);
      var td = el('td');
      td.appendChild(badge(a.text, a.cls));
      tr.appendChild(td);
      tr.appendChild(cell(fmtInt(num(p.activeRelays)), 'num'));
      tr.appendChild(cell(fmtInt(num(p.fullRelays)), 'num'));
      tr.appendChild(cell(fmtInt(num(p.drainingRelays)), 'num'));
      tr.appendChild(barCell(num(p.load), fmtLoad(num(p.load))));
      tr.appendChild(cell(fmtInt(num(p.allocations)) + ' / ' + fmtInt(num(p.capacity)), 'num'));
      tr.appendChild(cell(fmtBps(num(p.bandwidthBps)), 'num'));
      var reasons = (Array.isArray(p.announcements) ? p.announcements : []).map(function (x) {
        return str(x.agent) + ': ' + str(x.reason);
      });
      tr.appendChild(cell(reasons.join('; ') || '–', 'muted reason'));
      return tr;
    });
    if (pops.length === 0) { var e1 = el('tr'); var n1 = cell('no PoPs', 'muted'); n1.colSpan = 9; e1.appendChild(n1); pops.push(e1); }
    $('pops').replaceChildren.apply($('pops'), pops);

    var relays = (Array.isArray(c.relays) ? c.relays : []).map(function (r) {
      var tr = el('tr', str(r.id) === relayId ? 'self' : '');
      tr.appendChild(cell(str(r.id), 'name'));
      tr.appendChild(cell(str(r.pop), 'nowrap'));
      var td = el('td');
      var st = stateOf(r.state);
      td.appendChild(badge(st, st));
      tr.appendChild(td);
      tr.appendChild(barCell(num(r.load), fmtLoad(num(r.load))));
      tr.appendChild(cell(fmtInt(num(r.allocations)) + ' / ' + fmtInt(num(r.capacity)), 'num'));
      tr.appendChild(cell(fmtBps(num(r.bandwidthBps)), 'num'));
      tr.appendChild(cell(fmtAge(now - num(r.updatedAt)), 'num'));
      return tr;
    });
    if (relays.length === 0) { var e2 = el('tr'); var n2 = cell('no relays registered', 'muted'); n2.colSpan = 7; e2.appendChild(n2); relays.push(e2); }
    $('relays').replaceChildren.apply($('relays'), relays);
  }

  async function getJson(path) {
    var res = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } });
    if (!res.ok) { var err = new Error(path + ': HTTP ' + res.status); err.status = res.status; throw err; }
    return res.json();
  }

  async function poll() {
    try {
      var t = performance.now();
      var results = await Promise.allSettled([getJson('status'), getJson('cluster')]);
      if (results[0].status !== 'fulfilled') throw results[0].reason;
      renderStatus(results[0].value, t);
      if (results[1].status === 'fulfilled') renderCluster(results[1].value);
      else if (results[1].reason && results[1].reason.status === 404) $('cluster').hidden = true;
      lastOkAt = Date.now();
      document.body.classList.remove('stale');
      setText('updated', 'live · updated ' + new Date(lastOkAt).toLocaleTimeString());
    } catch (err) {
      document.body.classList.add('stale');
      var b = $('relay-state');
      b.textContent = 'unreachable';
      b.className = 'badge s-unreachable';
      setText('updated', lastOkAt ? 'relay unreachable · last data ' + new Date(lastOkAt).toLocaleTimeString()
        : 'relay unreachable');
    } finally {
      setTimeout(poll, INTERVAL_MS);
    }
  }
  poll();
})();
`;

const BODY = `<div class="wrap">
<header>
<div class="brand">anyturn relay</div>
<h1><span id="relay-id">…</span><span class="pop">PoP <span id="relay-pop">…</span></span></h1>
<span id="relay-state" class="badge s-unknown">connecting</span>
<span id="updated" class="updated">connecting…</span>
</header>
<main>
<section class="cards" aria-label="This relay">
<div class="card wide"><h2>Allocations</h2>
<div class="big"><span id="allocations">–</span><span class="of"> / <span id="capacity">–</span></span></div>
<div class="bar"><div id="allocations-bar"></div></div><div class="sub" id="allocations-pct"></div></div>
<div class="card"><h2>Load score</h2><div class="big" id="load">–</div>
<div class="bar"><div id="load-bar"></div></div><div class="sub">1.00 = full</div></div>
<div class="card"><h2>Relayed in</h2><div class="big"><span id="bw-in">–</span><span class="unit" id="bw-in-unit"></span></div>
<div class="sub" id="bytes-in"></div></div>
<div class="card"><h2>Relayed out</h2><div class="big"><span id="bw-out">–</span><span class="unit" id="bw-out-unit"></span></div>
<div class="sub" id="bytes-out"></div></div>
<div class="card"><h2>Uptime</h2><div class="big" id="uptime">–</div><div class="sub" id="connections"></div></div>
</section>
<section class="panel"><h2>Listeners</h2>
<table><thead><tr><th>Transport</th><th>Role</th><th>Address</th></tr></thead><tbody id="listeners"></tbody></table>
</section>
<section id="cluster" hidden>
<div class="section-head"><h2>Cluster</h2><span id="cluster-store" class="badge s-none"></span>
<p id="cluster-note" class="note"></p></div>
<div id="cluster-tables" hidden>
<div class="panel"><h2>Points of presence</h2>
<table><thead><tr><th>PoP</th><th>Announcement</th><th class="num">Active</th><th class="num">Full</th><th class="num">Draining</th><th>Load</th>
<th class="num">Allocations</th><th class="num">Bandwidth</th><th>Agent: reason</th></tr></thead>
<tbody id="pops"></tbody></table></div>
<div class="panel"><h2>Relays</h2>
<table><thead><tr><th>Relay</th><th>PoP</th><th>State</th><th>Load</th><th class="num">Allocations</th>
<th class="num">Bandwidth</th><th class="num">Heartbeat age</th></tr></thead>
<tbody id="relays"></tbody></table></div>
</div>
</section>
</main>
<footer>Polls <a href="status">status</a> and <a href="cluster">cluster</a> every second ·
<a href="metrics">metrics</a> · <a href="healthz">healthz</a></footer>
</div>`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The page, byte for byte as served. */
export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>anyturn relay</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;

/** Sent with the page: only its own inline style and script run; it fetches from its own origin only. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
