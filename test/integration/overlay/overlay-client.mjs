// A TURN client for the overlay lab test, run INSIDE a client namespace (`ip netns exec <ns> node overlay-client.mjs`).
// Plain JS on purpose: its own process, the compiled codec in dist/ (built by `pretest`; tests never build it).
// One UDP socket, one allocation; data goes as ChannelData (turnutils_uclient style): payload = tag u32, seq u32,
// then zeros up to `size`. What comes back is counted per tag (unique sequence numbers and duplicates).
//
// Protocol: one JSON command per stdin line, one JSON reply per stdout line ({id, ...}). Commands:
//   {id, cmd:'allocate', server:{address,port}, username, password}      -> {relayed:{address,port}}
//   {id, cmd:'bind', peer:{address,port}, channel}                      -> ChannelBind (permission included)
//   {id, cmd:'send', channel, tag, count, rate, size}                   -> {sent, ms} once every packet is out
//   {id, cmd:'received', tag}                                           -> {packets, unique, maxSeq}
//   {id, cmd:'fetch', url}                                              -> {status, text}
//   {id, cmd:'exit'}
import dgram from 'node:dgram';
import { createInterface } from 'node:readline';

const root = new URL('../../../', import.meta.url);
const stun = await import(new URL('dist/src/stun/index.js', root).href);
const { longTermKey } = await import(new URL('dist/src/auth/long-term.js', root).href);
const { Attr, Method, StunClass, StunWriter, decodeStun, isChannelData, newTransactionId, readErrorCode, readString,
  readXorAddress, writeChannelDataHeader } = stun;

const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sock = dgram.createSocket('udp4');
await new Promise((resolve) => sock.bind(0, '0.0.0.0', resolve));
const writer = new StunWriter();
const pending = new Map();
const received = new Map(); // tag -> { packets, seen: Set, maxSeq }
let server;
let auth;

sock.on('message', (buf) => {
  if (isChannelData(buf)) {
    if (buf.length < 12) return;
    const tag = buf.readUInt32BE(4);
    const seq = buf.readUInt32BE(8);
    let r = received.get(tag);
    if (r === undefined) received.set(tag, (r = { packets: 0, seen: new Set(), maxSeq: -1 }));
    r.packets++;
    r.seen.add(seq);
    if (seq > r.maxSeq) r.maxSeq = seq;
    return;
  }
  const m = decodeStun(buf);
  if (typeof m === 'string') return;
  const p = pending.get(m.transactionId.toString('hex'));
  if (p !== undefined) p(m);
});

function transact(build) {
  const tid = newTransactionId();
  const msg = build(tid);
  return new Promise((resolve, reject) => {
    let sends = 0;
    let timer;
    const fire = () => {
      if (sends === 7) {
        pending.delete(tid.toString('hex'));
        reject(new Error('no answer'));
        return;
      }
      sends++;
      sock.send(msg, server.port, server.address);
      timer = setTimeout(fire, 250);
    };
    pending.set(tid.toString('hex'), (m) => {
      clearTimeout(timer);
      pending.delete(tid.toString('hex'));
      resolve(m);
    });
    fire();
  });
}

function signed(method, tid, add) {
  writer.reset(method, StunClass.Request, tid);
  add(writer);
  writer.addString(Attr.USERNAME, auth.username).addString(Attr.REALM, auth.realm).addString(Attr.NONCE, auth.nonce);
  return writer.addMessageIntegrity(auth.key).addFingerprint().toBuffer();
}

async function allocate(cmd) {
  server = cmd.server;
  const first = await transact((tid) => writer.reset(Method.Allocate, StunClass.Request, tid).addRequestedTransport(17).addFingerprint().toBuffer());
  const realm = readString(first, Attr.REALM);
  const nonce = readString(first, Attr.NONCE);
  auth = { username: cmd.username, realm, nonce, key: longTermKey(cmd.username, realm, cmd.password) };
  const r = await transact((tid) => signed(Method.Allocate, tid, (w) => w.addRequestedTransport(17)));
  const relayed = readXorAddress(r, Attr.XOR_RELAYED_ADDRESS);
  if (relayed === undefined || relayed === 'bad-attribute') throw new Error(`allocate failed: ${JSON.stringify(readErrorCode(r))}`);
  return { relayed: { address: relayed.address, port: relayed.port } };
}

async function bind(cmd) {
  const r = await transact((tid) => signed(Method.ChannelBind, tid, (w) => {
    w.addChannelNumber(cmd.channel);
    w.addXorAddress(Attr.XOR_PEER_ADDRESS, { family: 4, address: cmd.peer.address, port: cmd.peer.port });
  }));
  const e = readErrorCode(r);
  if (e !== undefined) throw new Error(`ChannelBind: ${JSON.stringify(e)}`);
  return { ok: true };
}

function send(cmd) {
  const t0 = Date.now();
  const tickMs = 5;
  const perTick = Math.max(1, Math.round((cmd.rate * tickMs) / 1000));
  let seq = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      for (let k = 0; k < perTick && seq < cmd.count; k++, seq++) {
        const b = Buffer.alloc(4 + cmd.size);
        writeChannelDataHeader(b, 0, cmd.channel, cmd.size);
        b.writeUInt32BE(cmd.tag, 4);
        b.writeUInt32BE(seq, 8);
        sock.send(b, server.port, server.address);
      }
      if (seq >= cmd.count) {
        clearInterval(timer);
        resolve({ sent: seq, ms: Date.now() - t0 });
      }
    }, tickMs);
  });
}

const commands = {
  allocate,
  bind,
  send,
  received: (cmd) => {
    const r = received.get(cmd.tag);
    return { packets: r?.packets ?? 0, unique: r?.seen.size ?? 0, maxSeq: r?.maxSeq ?? -1 };
  },
  fetch: async (cmd) => {
    const res = await fetch(cmd.url);
    return { status: res.status, text: await res.text() };
  },
  exit: () => {
    setImmediate(() => process.exit(0));
    return {};
  },
};

createInterface({ input: process.stdin }).on('line', async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch {
    return;
  }
  try {
    out({ id: cmd.id, ok: true, ...(await commands[cmd.cmd](cmd)) });
  } catch (err) {
    out({ id: cmd.id, ok: false, error: String(err?.message ?? err) });
  }
});
process.stdin.on('end', () => process.exit(0));
out({ event: 'ready' });
