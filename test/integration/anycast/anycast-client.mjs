// A TURN client that follows 300 Try Alternate, run INSIDE a client namespace of the lab by the anycast
// integration tests (`ip netns exec <ns> node anycast-client.mjs`). Plain JS on purpose: it runs as its own
// process and uses the compiled codec in dist/ (built by `pretest`; tests never build it).
//
// It behaves like libwebrtc with `turn:G:3478`: one UDP socket per allocation, unconnected; answers to a request
// sent to G are only accepted from G:3478; the first 300 wins (later ones for the same transaction are counted and
// ignored); the Allocate then goes to ALTERNATE-SERVER from the same socket. A 300 to an authenticated request is
// accepted only when its MESSAGE-INTEGRITY verifies (what re/baresip check). When the relay named by the 300
// never answers (killed), the client starts again at G: that is the "retransmit" of the integration tests.
//
// Protocol: one JSON command per stdin line, one JSON reply per stdout line ({id, ...}). Commands:
//   {id, cmd:'allocate', server:{address,port}, username, password, count, concurrency, release, expectMi}
//   {id, cmd:'allocate-juice', server, username, password, count, concurrency, graceMs}   (see allocateLikeJuice)
//   {id, cmd:'hold', server:{address,port}, username, password, count}      allocations kept open (load)
//   {id, cmd:'release-held'}
//   {id, cmd:'binding', server:{address,port}}                               one STUN Binding (MAX_SENDS tries)
//   {id, cmd:'fetch', url, method?}                                           HTTP from inside the namespace
//   {id, cmd:'flood', target:{address,port}, sources:[ip...], portsPerSource, packets, rate, kind, graceMs}
//   {id, cmd:'exit'}
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const root = new URL('../../../', import.meta.url);
const stun = await import(new URL('dist/src/stun/index.js', root).href);
const { longTermKey } = await import(new URL('dist/src/auth/long-term.js', root).href);
const { Attr, Method, StunClass, StunWriter, decodeStun, newTransactionId, readAddress, readErrorCode, readString,
  readXorAddress, verifyIntegrity } = stun;

const RTO_MS = 250;
const MAX_SENDS = 4; // 250 + 500 + 1000 + 2000: a request gives up after 3.75 s

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function errorCode(m) {
  const e = readErrorCode(m);
  return e === undefined || e === 'bad-attribute' ? 0 : e.code;
}

class Socket {
  constructor(localAddress) {
    this.localAddress = localAddress;
    this.sock = dgram.createSocket(localAddress.includes(':') ? { type: 'udp6', ipv6Only: true } : 'udp4');
    this.pending = new Map(); // tid hex -> { resolve, from, sends }
    this.done = new Map(); // tid hex -> extra answers after the first
    this.traces = new Map(); // tid hex -> { t0, answers: ['alternate@ms'] } (requests to G)
    this.sock.on('message', (buf, rinfo) => this.#onMessage(buf, rinfo));
    this.sock.on('error', () => {});
  }

  bind() {
    return new Promise((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(0, this.localAddress, () => {
        this.sock.off('error', reject);
        resolve();
      });
    });
  }

  #onMessage(buf, rinfo) {
    const m = decodeStun(buf);
    if (typeof m === 'string') return;
    const key = m.transactionId.toString('hex');
    const trace = this.traces.get(key);
    if (trace !== undefined) {
      const alt = readAddress(m, Attr.ALTERNATE_SERVER);
      const who = alt && alt !== 'bad-attribute' ? alt.address : `code ${errorCode(m)}`;
      trace.answers.push(`${who}@${(Number(process.hrtime.bigint() - trace.t0) / 1e6).toFixed(1)}`);
    }
    const p = this.pending.get(key);
    if (p === undefined) {
      if (this.done.has(key)) this.done.set(key, this.done.get(key) + 1);
      return;
    }
    // libwebrtc / nICEr / re: the answer must come from where the request went
    if (rinfo.address !== p.to.address || rinfo.port !== p.to.port) return;
    this.pending.delete(key);
    this.done.set(key, 0);
    p.resolve({ msg: m, from: `${rinfo.address}:${rinfo.port}`, sends: p.sends });
  }

  /** Sends with retransmits; resolves with the first answer or { timeout: true }. */
  transact(buf, tid, to) {
    const key = tid.toString('hex');
    return new Promise((resolve) => {
      const p = { to, sends: 0, resolve: (r) => { clearTimeout(p.timer); resolve(r); } };
      const fire = () => {
        if (p.sends === MAX_SENDS) {
          this.pending.delete(key);
          resolve({ timeout: true, sends: p.sends });
          return;
        }
        p.timer = setTimeout(fire, RTO_MS << p.sends);
        p.sends++;
        this.sock.send(buf, to.port, to.address);
      };
      this.pending.set(key, p);
      fire();
    });
  }

  trace(tid) {
    const t = { t0: process.hrtime.bigint(), answers: [] };
    this.traces.set(tid.toString('hex'), t);
    return t.answers;
  }

  extraAnswers(tid) {
    return this.done.get(tid.toString('hex')) ?? 0;
  }

  close() {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    try { this.sock.close(); } catch { /* closed */ }
  }
}

const writer = new StunWriter();

/** The wildcard address of the family of `address`. */
function anyAddress(address) {
  return address.includes(':') ? '::' : '0.0.0.0';
}

function allocateRequest(tid, auth) {
  writer.reset(Method.Allocate, StunClass.Request, tid).addRequestedTransport(17);
  if (auth) {
    writer.addString(Attr.USERNAME, auth.username).addString(Attr.REALM, auth.realm).addString(Attr.NONCE, auth.nonce);
    writer.addMessageIntegrity(auth.key);
  }
  return writer.addFingerprint().toBuffer();
}

function refreshRequest(tid, auth, lifetime) {
  writer.reset(Method.Refresh, StunClass.Request, tid).addUint32(Attr.LIFETIME, lifetime);
  writer.addString(Attr.USERNAME, auth.username).addString(Attr.REALM, auth.realm).addString(Attr.NONCE, auth.nonce);
  return writer.addMessageIntegrity(auth.key).addFingerprint().toBuffer();
}

/** Allocate on a unicast server (401 first, then authenticated); returns { ok, relayed, auth } or { ok:false }. */
async function allocateAt(sock, server, creds, auth) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const tid = newTransactionId();
    const r = await sock.transact(allocateRequest(tid, auth), tid, server);
    if (r.timeout) return { ok: false, why: `timeout at ${server.address}:${server.port}` };
    if (r.msg.cls === StunClass.SuccessResponse) {
      const relayed = readXorAddress(r.msg, Attr.XOR_RELAYED_ADDRESS);
      return { ok: true, relayed: `${relayed.address}:${relayed.port}`, auth };
    }
    const code = errorCode(r.msg);
    if (code === 401 || code === 438) {
      const realm = readString(r.msg, Attr.REALM) ?? auth?.realm;
      const nonce = readString(r.msg, Attr.NONCE);
      auth = { username: creds.username, realm, nonce, key: longTermKey(creds.username, realm, creds.password) };
      continue;
    }
    return { ok: false, why: `error ${code} at ${server.address}:${server.port}` };
  }
  return { ok: false, why: 'authentication loop' };
}

/**
 * Through G: Allocate -> 401 (strict) or 300 (fast); authenticated Allocate -> 300 (MI checked); Allocate at the
 * ALTERNATE-SERVER. Starts again at G (at most 2 more times) when a step times out.
 */
async function allocateViaAnycast(server, creds, opts) {
  const started = Date.now();
  const sock = new Socket(opts.localAddress ?? anyAddress(server.address));
  await sock.bind();
  const result = { ok: false, restarts: 0, extra300: 0, sends: 0 };
  try {
    for (let round = 0; round < 3; round++) {
      if (round > 0) result.restarts++;
      let tid = newTransactionId();
      let r = await sock.transact(allocateRequest(tid), tid, server);
      result.sends += r.sends;
      if (r.timeout) { result.why = 'no answer on G'; continue; }
      let code = errorCode(r.msg);
      let auth;
      let alternate;
      if (code === 401) {
        const realm = readString(r.msg, Attr.REALM);
        const nonce = readString(r.msg, Attr.NONCE);
        auth = { username: creds.username, realm, nonce, key: longTermKey(creds.username, realm, creds.password) };
        tid = newTransactionId();
        result.race = sock.trace(tid);
        r = await sock.transact(allocateRequest(tid, auth), tid, server);
        result.sends += r.sends;
        if (r.timeout) { result.why = 'no 300 on G'; continue; }
        code = errorCode(r.msg);
        if (code !== 300) { result.why = `authenticated Allocate on G got ${code}`; break; }
        if (opts.expectMi && verifyIntegrity(r.msg, auth.key) !== 'ok') { result.why = '300 without valid MI'; break; }
        alternate = readAddress(r.msg, Attr.ALTERNATE_SERVER);
        result.mode = 'strict';
      } else if (code === 300) {
        const realm = readString(r.msg, Attr.REALM);
        const nonce = readString(r.msg, Attr.NONCE);
        auth = { username: creds.username, realm, nonce, key: longTermKey(creds.username, realm, creds.password) };
        alternate = readAddress(r.msg, Attr.ALTERNATE_SERVER);
        result.mode = 'fast';
      } else {
        result.why = `Allocate on G got ${code}`;
        break;
      }
      if (alternate === undefined || alternate === 'bad-attribute') { result.why = '300 without ALTERNATE-SERVER'; break; }
      const target = { address: alternate.address, port: alternate.port };
      const a = await allocateAt(sock, target, creds, auth);
      // let late 300s of the race arrive, so they can be counted
      result.extra300 += sock.extraAnswers(tid);
      if (!a.ok) { result.why = a.why; continue; }
      result.ok = true;
      result.alternate = `${target.address}:${target.port}`;
      result.relayed = a.relayed;
      result.ms = Date.now() - started;
      if (opts.release) {
        const t = newTransactionId();
        await sock.transact(refreshRequest(t, a.auth, 0), t, target);
      }
      break;
    }
  } finally {
    sock.close();
  }
  return result;
}

/**
 * The behaviour of a widely embedded ICE library (libjuice), seen on the wire: ONE transaction id for the whole
 * exchange (the unauthenticated Allocate, the authenticated retry after 401, the Allocate at the ALTERNATE-SERVER
 * after the 300); responses matched by transaction id only (whatever their source); a 401 that arrives after the
 * authenticated Allocate was sent means "authentication failed"; a second 300 means "too many redirections".
 * Every answer carrying the transaction id is recorded, also for `graceMs` after success, so the test can report
 * how often a request got more than one answer.
 */
async function allocateLikeJuice(server, creds, opts) {
  const sock = dgram.createSocket(server.address.includes(':') ? { type: 'udp6', ipv6Only: true } : 'udp4');
  sock.on('error', () => {});
  await new Promise((resolve) => sock.bind(0, anyAddress(server.address), resolve));
  const tid = newTransactionId();
  const answers = { challenge: 0, redirect: 0, allocate: 0 };
  const sends = { challenge: 0, redirect: 0, allocate: 0 };
  let phase = 'challenge';
  let waiter;
  let failure;
  sock.on('message', (buf) => {
    const m = decodeStun(buf);
    if (typeof m === 'string' || !m.transactionId.equals(tid)) return;
    const code = m.cls === StunClass.SuccessResponse ? 200 : errorCode(m);
    if (phase === 'done') {
      // what arrives after success: a late answer to one of the three requests
      answers[code === 401 ? 'challenge' : code === 300 ? 'redirect' : 'allocate']++;
      return;
    }
    answers[phase]++;
    if (phase === 'redirect' && code === 401 && answers.challenge > 0) failure ??= 'authentication failed (a second 401)';
    if (phase === 'allocate' && code === 300) failure ??= 'too many redirections (a second 300)';
    const w = waiter;
    waiter = undefined;
    w?.(m);
  });
  const perPhase = sends;
  const transact = (buf, to) => new Promise((resolve) => {
    let sends = 0;
    let timer;
    const fire = () => {
      if (sends === MAX_SENDS) { waiter = undefined; resolve(undefined); return; }
      timer = setTimeout(fire, RTO_MS << sends);
      sends++;
      perPhase[phase]++;
      sock.send(buf, to.port, to.address);
    };
    waiter = (m) => { clearTimeout(timer); resolve(m); };
    fire();
  });
  const result = { ok: false };
  const keyOf = (m) => {
    const realm = readString(m, Attr.REALM);
    const nonce = readString(m, Attr.NONCE);
    return { username: creds.username, realm, nonce, key: longTermKey(creds.username, realm, creds.password) };
  };
  try {
    let t0 = process.hrtime.bigint();
    let m = await transact(allocateRequest(tid), server);
    if (m === undefined) { result.why = 'no answer on G'; return result; }
    let code = errorCode(m);
    let auth;
    if (code === 401) {
      auth = keyOf(m);
      phase = 'redirect';
      t0 = process.hrtime.bigint();
      m = await transact(allocateRequest(tid, auth), server);
      if (failure) { result.why = failure; return result; }
      if (m === undefined) { result.why = 'no 300 on G'; return result; }
      code = errorCode(m);
      result.mode = 'strict';
    } else {
      result.mode = 'fast';
    }
    if (code !== 300) { result.why = `Allocate on G got ${code}`; return result; }
    result.ms300 = Number(process.hrtime.bigint() - t0) / 1e6;
    if (m.has(Attr.NONCE)) auth = keyOf(m); // fast mode: REALM and NONCE come with the 300
    const alt = readAddress(m, Attr.ALTERNATE_SERVER);
    const target = { address: alt.address, port: alt.port };
    phase = 'allocate';
    m = await transact(allocateRequest(tid, auth), target); // libjuice keeps the transaction id
    if (failure) { result.why = failure; return result; }
    if (m === undefined) { result.why = `no answer at ${target.address}`; return result; }
    if (m.cls !== StunClass.SuccessResponse) { result.why = `Allocate at ${target.address} got ${errorCode(m)}`; return result; }
    result.ok = true;
    result.alternate = `${target.address}:${target.port}`;
    sock.send(refreshRequest(newTransactionId(), auth, 0), target.port, target.address);
    return result;
  } finally {
    phase = 'done';
    await new Promise((r) => setTimeout(r, opts.graceMs ?? 300)); // late answers are counted meanwhile
    result.answers = { ...answers };
    result.sends = { ...sends };
    result.multi = answers.challenge > 1 || answers.redirect > 1 || answers.allocate > 1;
    // more answers than the client sent copies of the request: several relays answered one transmission
    result.extraAnswers = Object.keys(answers).some((k) => answers[k] > Math.max(1, sends[k]));
    if (failure && result.ok) { result.ok = false; result.why = failure; }
    setTimeout(() => sock.close(), 100).unref?.();
  }
}

async function runPool(count, concurrency, job) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
  return results;
}

const held = [];

async function hold(cmd) {
  const creds = { username: cmd.username, password: cmd.password };
  const results = await runPool(cmd.count, cmd.concurrency ?? 20, async () => {
    const sock = new Socket(anyAddress(cmd.server.address));
    await sock.bind();
    const a = await allocateAt(sock, cmd.server, creds, undefined);
    if (a.ok) held.push({ sock, server: cmd.server, auth: a.auth });
    else sock.close();
    return a.ok;
  });
  return { ok: results.filter(Boolean).length, failed: results.filter((x) => !x).length };
}

async function releaseHeld() {
  const all = held.splice(0);
  await runPool(all.length, 50, async (i) => {
    const h = all[i];
    const t = newTransactionId();
    await h.sock.transact(refreshRequest(t, h.auth, 0), t, h.server);
    h.sock.close();
  });
  return { released: all.length };
}

/** Many-source flood at G; counts what comes back to the flooding sockets. */
async function flood(cmd) {
  const socks = [];
  let receivedPackets = 0;
  let receivedBytes = 0;
  const perSource = new Map();
  for (const ip of cmd.sources) {
    for (let k = 0; k < cmd.portsPerSource; k++) {
      const s = dgram.createSocket('udp4');
      s.on('message', (buf) => {
        receivedPackets++;
        receivedBytes += buf.length;
        perSource.set(ip, (perSource.get(ip) ?? 0) + 1);
      });
      s.on('error', () => {});
      await new Promise((resolve, reject) => { s.once('error', reject); s.bind(0, ip, () => resolve()); });
      socks.push(s);
    }
  }
  const w = new StunWriter();
  const makeRequest = () => {
    const tid = newTransactionId();
    if (cmd.kind === 'binding') return w.reset(Method.Binding, StunClass.Request, tid).toBuffer();
    return w.reset(Method.Allocate, StunClass.Request, tid).addRequestedTransport(17).toBuffer();
  };
  let sentPackets = 0;
  let sentBytes = 0;
  const started = Date.now();
  const intervalMs = 5;
  const perTick = Math.max(1, Math.round((cmd.rate * intervalMs) / 1000));
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(cmd.packets, Math.floor(((Date.now() - started) * cmd.rate) / 1000) + perTick);
      while (sentPackets < due) {
        const s = socks[sentPackets % socks.length];
        const buf = makeRequest();
        s.send(buf, cmd.target.port, cmd.target.address);
        sentPackets++;
        sentBytes += buf.length;
      }
      if (sentPackets >= cmd.packets) resolve();
      else setTimeout(tick, intervalMs);
    };
    tick();
  });
  const sendMs = Date.now() - started;
  await new Promise((r) => setTimeout(r, cmd.graceMs ?? 500));
  for (const s of socks) s.close();
  const maxPerSource = Math.max(0, ...perSource.values());
  return { sentPackets, sentBytes, receivedPackets, receivedBytes, sendMs, sockets: socks.length, maxPerSource };
}

async function handle(cmd) {
  switch (cmd.cmd) {
    case 'allocate': {
      const creds = { username: cmd.username, password: cmd.password };
      const results = await runPool(cmd.count, cmd.concurrency ?? 10, () =>
        allocateViaAnycast(cmd.server, creds, { release: cmd.release, expectMi: cmd.expectMi, localAddress: cmd.localAddress }),
      );
      return { results };
    }
    case 'allocate-juice': {
      const creds = { username: cmd.username, password: cmd.password };
      const results = await runPool(cmd.count, cmd.concurrency ?? 4, () => allocateLikeJuice(cmd.server, creds, { graceMs: cmd.graceMs }));
      return { results };
    }
    case 'hold':
      return hold(cmd);
    case 'release-held':
      return releaseHeld();
    case 'flood':
      return flood(cmd);
    case 'binding': {
      const sock = new Socket(anyAddress(cmd.server.address));
      await sock.bind();
      const tid = newTransactionId();
      const started = Date.now();
      const r = await sock.transact(new StunWriter().reset(Method.Binding, StunClass.Request, tid).toBuffer(), tid, cmd.server);
      sock.close();
      if (r.timeout) return { ok: false };
      const mapped = readXorAddress(r.msg, Attr.XOR_MAPPED_ADDRESS);
      return { ok: r.msg.cls === StunClass.SuccessResponse, mapped: mapped && `${mapped.address}:${mapped.port}`, ms: Date.now() - started };
    }
    case 'fetch': {
      try {
        const res = await fetch(cmd.url, { method: cmd.method ?? 'GET', signal: AbortSignal.timeout(cmd.timeoutMs ?? 2000) });
        return { status: res.status, text: await res.text() };
      } catch (err) {
        return { status: 0, text: String(err) };
      }
    }
    case 'exit':
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown command ${cmd.cmd}`);
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return;
  }
  handle(cmd).then(
    (r) => out({ id: cmd.id, ...r }),
    (err) => out({ id: cmd.id, error: String(err?.stack ?? err) }),
  );
});
out({ event: 'ready' });
