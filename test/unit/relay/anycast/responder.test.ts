/**
 * AnycastResponder on a fake ClientTransport (records what it sends) and a fake clock/timers.
 * Requests are built with our writer and, for the cross-check, with the `stun` npm package.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { StaticUsers } from '../../../../src/auth/credential-store.js';
import { longTermKey } from '../../../../src/auth/long-term.js';
import { NonceService } from '../../../../src/auth/nonce.js';
import { silentLogger } from '../../../../src/log.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  decodeStun,
  newTransactionId,
  readAddress,
  readErrorCode,
  readString,
  readXorAddress,
  verifyFingerprint,
  verifyIntegrity,
  type StunMessage,
} from '../../../../src/stun/index.js';
import { AnswerBudget } from '../../../../relay/anycast/answer-budget.js';
import { requestHashOf } from '../../../../relay/anycast/race-rank.js';
import { DrainState } from '../../../../relay/anycast/drain.js';
import { AnycastMetrics } from '../../../../relay/anycast/metrics.js';
import { SourceRateLimiter } from '../../../../relay/anycast/rate-limit.js';
import { AnycastResponder, type AnycastResponderOptions, type RaceGroupView } from '../../../../relay/anycast/responder.js';
import { StaticRelayDirectory, type AlternateServers } from '../../../../relay/anycast/single-responder.js';
import type { ClientTransport } from '../../../../relay/turn/client-transport.js';
import type { TransportProtocol } from '../../../../relay/turn/five-tuple.js';
import { FakeTime } from './fake-time.js';

const REALM = 'anyturn.test';
const G = '198.18.0.1';
const CLIENT = '192.0.2.10';
const CLIENT6 = '2001:db8::10';
const KEY = longTermKey('alice', REALM, 'wonderland');
const WRONG_KEY = longTermKey('alice', REALM, 'looking-glass');

const ALTERNATES: AlternateServers = {
  udp4: { family: 4, address: '10.9.9.1', port: 3478 },
  tcp4: { family: 4, address: '10.9.9.1', port: 3478 },
  tls4: { family: 4, address: '10.9.9.1', port: 5349 },
  udp6: { family: 6, address: 'fd00:9::1', port: 3478 },
};

interface Sent {
  data: Buffer;
  address: string;
  port: number;
  at: number;
}

class FakeTransport implements ClientTransport {
  readonly role = 'anycast' as const;
  readonly sent: Sent[] = [];
  constructor(
    readonly protocol: TransportProtocol,
    private readonly time: FakeTime,
    readonly localAddress = G,
    readonly localPort = protocol === 'tls' ? 5349 : 3478,
  ) {}
  send(data: Buffer, clientAddress: string, clientPort: number): void {
    this.sent.push({ data: Buffer.from(data), address: clientAddress, port: clientPort, at: this.time.now() });
  }
  last(): StunMessage {
    const s = this.sent[this.sent.length - 1];
    const m = decodeStun(s.data);
    if (typeof m === 'string') throw new Error(`undecodable answer: ${m}`);
    return m;
  }
}

interface Setup {
  time: FakeTime;
  responder: AnycastResponder;
  metrics: AnycastMetrics;
  drain: DrainState;
  nonces: NonceService;
  load: { value: number };
  udp: FakeTransport;
}

function setup(
  options: Partial<AnycastResponderOptions> = {},
  extra: {
    rate?: Partial<ConstructorParameters<typeof SourceRateLimiter>[0]>;
    directory?: StaticRelayDirectory;
    budget?: AnswerBudget;
    group?: RaceGroupView;
  } = {},
): Setup {
  const time = new FakeTime();
  const metrics = new AnycastMetrics();
  const drain = new DrainState();
  const nonces = new NonceService({ key: Buffer.alloc(32, 7), ttlMs: 600_000, clock: time });
  const load = { value: 0 };
  const limiter = new SourceRateLimiter(
    { perSourceRate: 10, perSourceBurst: 20, globalRate: 2000, globalBurst: 2000, maxSources: 1000, ...extra.rate },
    time,
  );
  const responder = new AnycastResponder(
    {
      realm: REALM,
      redirect: 'strict',
      race: 'race',
      raceMaxDelayMs: 100,
      raceCurve: 'linear',
      raceStepMs: 20,
      relayId: 'r1',
      alternates: ALTERNATES,
      ...options,
    },
    {
      credentials: new StaticUsers([{ name: 'alice', password: 'wonderland' }]),
      nonces,
      clock: time,
      log: silentLogger(),
      load: { score: () => load.value },
      drain,
      limiter,
      budget: extra.budget ?? new AnswerBudget({ burstBytes: 1e9, refundBytes: 0, reserveBytes: 0, earnRatio: 1 }),
      metrics,
      group: extra.group,
      directory: extra.directory,
      timers: time,
    },
  );
  return { time, responder, metrics, drain, nonces, load, udp: new FakeTransport('udp', time) };
}

function msgOf(buf: Buffer): StunMessage {
  const m = decodeStun(buf);
  if (typeof m === 'string') throw new Error(m);
  return m;
}

interface RequestOptions {
  method?: number;
  cls?: StunClass;
  auth?: { nonce: string; key?: Buffer; username?: string; realm?: string; sha256?: boolean };
  fingerprint?: boolean;
  requestedTransport?: boolean;
  tid?: Buffer;
}

function request(o: RequestOptions = {}): StunMessage {
  const method = o.method ?? Method.Allocate;
  const w = new StunWriter().reset(method, o.cls ?? StunClass.Request, o.tid ?? newTransactionId());
  if (method === Method.Allocate && o.requestedTransport !== false) w.addRequestedTransport(17);
  if (o.auth) {
    w.addString(Attr.USERNAME, o.auth.username ?? 'alice');
    w.addString(Attr.REALM, o.auth.realm ?? REALM);
    w.addString(Attr.NONCE, o.auth.nonce);
    if (o.auth.sha256) w.addMessageIntegritySha256(o.auth.key ?? KEY);
    else w.addMessageIntegrity(o.auth.key ?? KEY);
  }
  if (o.fingerprint) w.addFingerprint();
  return msgOf(w.toBuffer());
}

function attrTypes(m: StunMessage): number[] {
  return Array.from({ length: m.attributeCount }, (_, i) => m.typeAt(i));
}

describe('AnycastResponder: Binding on G', () => {
  it('answers at once with the XOR-MAPPED-ADDRESS of the client, nothing else', () => {
    const { responder, udp, load, metrics } = setup();
    load.value = 0.8; // Binding is not raced
    const req = request({ method: Method.Binding });
    responder.handle(udp, req, CLIENT, 40000);
    expect(udp.sent).toHaveLength(1);
    const res = udp.last();
    expect(res.method).toBe(Method.Binding);
    expect(res.cls).toBe(StunClass.SuccessResponse);
    expect(res.transactionId.equals(req.transactionId)).toBe(true);
    expect(readXorAddress(res, Attr.XOR_MAPPED_ADDRESS)).toEqual({ family: 4, address: CLIENT, port: 40000 });
    expect(attrTypes(res)).toEqual([Attr.XOR_MAPPED_ADDRESS]);
    expect(udp.sent[0].data.length).toBe(32);
    expect(metrics.get('binding')).toBe(1);
  });

  it('mirrors FINGERPRINT and handles IPv6 clients', () => {
    const { responder, udp } = setup();
    responder.handle(udp, request({ method: Method.Binding, fingerprint: true }), CLIENT6, 5000);
    const res = udp.last();
    expect(readXorAddress(res, Attr.XOR_MAPPED_ADDRESS)).toEqual({ family: 6, address: CLIENT6, port: 5000 });
    expect(verifyFingerprint(res)).toBe('ok');
  });

  it('still answers Binding while full or draining', () => {
    const { responder, udp, load, drain, metrics } = setup();
    load.value = 1;
    responder.handle(udp, request({ method: Method.Binding }), CLIENT, 1);
    drain.drain();
    responder.handle(udp, request({ method: Method.Binding }), CLIENT, 2);
    expect(udp.sent).toHaveLength(2);
    expect(metrics.get('binding')).toBe(2);
  });
});

describe('AnycastResponder: strict mode (RFC 8489 §14.8)', () => {
  it('challenges an unauthenticated Allocate at once: 401 with only ERROR-CODE, REALM, NONCE', () => {
    const { responder, udp, nonces, load, metrics } = setup();
    load.value = 0.5;
    const req = request();
    responder.handle(udp, req, CLIENT, 40000);
    expect(udp.sent).toHaveLength(1);
    const res = udp.last();
    expect(res.cls).toBe(StunClass.ErrorResponse);
    expect(res.method).toBe(Method.Allocate);
    expect(res.transactionId.equals(req.transactionId)).toBe(true);
    expect(readErrorCode(res)).toEqual({ code: 401, reason: '' });
    expect(readString(res, Attr.REALM)).toBe(REALM);
    expect(nonces.check(readString(res, Attr.NONCE) as string)).toBe('ok');
    expect(attrTypes(res)).toEqual([Attr.ERROR_CODE, Attr.REALM, Attr.NONCE]);
    expect(res.has(Attr.SOFTWARE)).toBe(false);
    expect(metrics.get('401')).toBe(1);
  });

  it('redirects the authenticated Allocate with a 300 to its unicast address, protected by MESSAGE-INTEGRITY', () => {
    const { responder, udp, nonces, metrics } = setup();
    const req = request({ auth: { nonce: nonces.issue() }, fingerprint: true });
    responder.handle(udp, req, CLIENT, 40000);
    expect(udp.sent).toHaveLength(1);
    const res = udp.last();
    expect(res.transactionId.equals(req.transactionId)).toBe(true);
    expect(readErrorCode(res)).toEqual({ code: 300, reason: '' });
    expect(readAddress(res, Attr.ALTERNATE_SERVER)).toEqual(ALTERNATES.udp4);
    expect(attrTypes(res)).toEqual([Attr.ERROR_CODE, Attr.ALTERNATE_SERVER, Attr.MESSAGE_INTEGRITY, Attr.FINGERPRINT]);
    expect(verifyIntegrity(res, KEY)).toBe('ok');
    expect(verifyIntegrity(res, WRONG_KEY)).toBe('mismatch');
    expect(verifyFingerprint(res)).toBe('ok');
    expect(metrics.get('300')).toBe(1);
  });

  it('answers MESSAGE-INTEGRITY-SHA256 with MESSAGE-INTEGRITY-SHA256', () => {
    const { responder, udp, nonces } = setup();
    responder.handle(udp, request({ auth: { nonce: nonces.issue(), sha256: true } }), CLIENT, 40000);
    const res = udp.last();
    expect(res.has(Attr.MESSAGE_INTEGRITY)).toBe(false);
    expect(res.has(Attr.MESSAGE_INTEGRITY_SHA256)).toBe(true);
    expect(verifyIntegrity(res, KEY)).toBe('ok');
  });

  it('names the unicast address of the client transport and family (TLS -> the TLS port)', () => {
    const { responder, nonces, time } = setup();
    const cases: [TransportProtocol, string, (typeof ALTERNATES)[keyof typeof ALTERNATES]][] = [
      ['udp', CLIENT, ALTERNATES.udp4],
      ['tcp', CLIENT, ALTERNATES.tcp4],
      ['tls', CLIENT, ALTERNATES.tls4],
      ['udp', CLIENT6, ALTERNATES.udp6],
    ];
    for (const [protocol, client, expected] of cases) {
      const t = new FakeTransport(protocol, time, client === CLIENT6 ? 'fd00:ffff::1' : G);
      responder.handle(t, request({ auth: { nonce: nonces.issue() } }), client, 1234);
      expect(readAddress(t.last(), Attr.ALTERNATE_SERVER)).toEqual(expected);
    }
    expect(ALTERNATES.tls4?.port).toBe(5349);
  });

  it('drops (and counts) an Allocate when it has no unicast address of that transport and family', () => {
    const { responder, nonces, time, metrics } = setup();
    const t = new FakeTransport('tls', time, 'fd00:ffff::1');
    responder.handle(t, request({ auth: { nonce: nonces.issue() } }), CLIENT6, 1);
    expect(t.sent).toHaveLength(0);
    expect(metrics.get('dropped-no-alternate')).toBe(1);
  });

  it('401 for a wrong password, an unknown user or a foreign realm; 438 for a stale or forged nonce (as on unicast); 400 without NONCE', () => {
    const { responder, udp, nonces, time, metrics } = setup();
    const nonce = nonces.issue();
    responder.handle(udp, request({ auth: { nonce, key: WRONG_KEY } }), CLIENT, 1);
    expect(readErrorCode(udp.last())?.valueOf()).toEqual({ code: 401, reason: '' });
    responder.handle(udp, request({ auth: { nonce, username: 'mallory' } }), CLIENT, 1);
    expect(readErrorCode(udp.last())).toEqual({ code: 401, reason: '' });
    responder.handle(udp, request({ auth: { nonce, realm: 'elsewhere' } }), CLIENT, 1);
    expect(readErrorCode(udp.last())).toEqual({ code: 401, reason: '' });
    responder.handle(udp, request({ auth: { nonce: `${nonce.slice(0, -2)}xx` } }), CLIENT, 1);
    expect(readErrorCode(udp.last())).toEqual({ code: 438, reason: '' });
    expect(readString(udp.last(), Attr.NONCE)).toBeDefined();

    time.advance(600_001);
    responder.handle(udp, request({ auth: { nonce } }), CLIENT, 1);
    const stale = udp.last();
    expect(readErrorCode(stale)).toEqual({ code: 438, reason: '' });
    expect(readString(stale, Attr.REALM)).toBe(REALM);
    expect(nonces.check(readString(stale, Attr.NONCE) as string)).toBe('ok');

    const w = new StunWriter().reset(Method.Allocate, StunClass.Request, newTransactionId());
    w.addRequestedTransport(17).addString(Attr.USERNAME, 'alice').addString(Attr.REALM, REALM).addMessageIntegrity(KEY);
    responder.handle(udp, msgOf(w.toBuffer()), CLIENT, 1);
    expect(readErrorCode(udp.last())).toEqual({ code: 400, reason: '' });
    expect(metrics.get('300')).toBe(0);
    expect(metrics.get('401')).toBe(3);
    expect(metrics.get('438')).toBe(2);
    expect(metrics.get('400')).toBe(1);
  });

  it('interoperates with an independent codec: a request built by `stun`, a 300 that `stun` validates', () => {
    const stun = createRequire(import.meta.url)('stun') as StunPackage;
    const { responder, udp, nonces } = setup();
    const req = stun.createMessage(stun.constants.STUN_ALLOCATE_REQUEST);
    req.addAttribute(stun.constants.STUN_ATTR_REQUESTED_TRANSPORT, Buffer.from([17, 0, 0, 0]));
    req.addUsername('alice');
    req.addRealm(REALM);
    req.addNonce(nonces.issue());
    req.addMessageIntegrity(KEY);
    req.addFingerprint();
    responder.handle(udp, msgOf(req.toBuffer()), CLIENT, 40000);
    const decoded = stun.decode(udp.sent[0].data);
    expect(decoded.getError()?.code).toBe(300);
    expect(decoded.getAttribute(stun.constants.STUN_ATTR_ALTERNATE_SERVER)?.value).toMatchObject({
      address: '10.9.9.1',
      port: 3478,
    });
    expect(stun.validateMessageIntegrity(decoded, KEY)).toBe(true);
    expect(stun.validateMessageIntegrity(decoded, WRONG_KEY)).toBe(false);
    expect(stun.validateFingerprint(decoded)).toBe(true);
  });
});

describe('AnycastResponder: fast mode', () => {
  it('answers the unauthenticated Allocate with a 300 carrying ALTERNATE-SERVER, REALM and NONCE', () => {
    const { responder, udp, nonces, metrics } = setup({ redirect: 'fast' });
    responder.handle(udp, request(), CLIENT, 40000);
    const res = udp.last();
    expect(readErrorCode(res)).toEqual({ code: 300, reason: '' });
    expect(readAddress(res, Attr.ALTERNATE_SERVER)).toEqual(ALTERNATES.udp4);
    expect(readString(res, Attr.REALM)).toBe(REALM);
    expect(nonces.check(readString(res, Attr.NONCE) as string)).toBe('ok');
    expect(attrTypes(res)).toEqual([Attr.ERROR_CODE, Attr.ALTERNATE_SERVER, Attr.REALM, Attr.NONCE]);
    expect(metrics.get('300')).toBe(1);
    expect(metrics.get('401')).toBe(0);
  });

  it('still protects the 300 to an authenticated Allocate', () => {
    const { responder, udp, nonces } = setup({ redirect: 'fast' });
    responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 40000);
    expect(verifyIntegrity(udp.last(), KEY)).toBe('ok');
  });
});

describe('AnycastResponder: the race', () => {
  it('delays the 300 by the race delay of the load score (linear)', () => {
    const { responder, udp, nonces, load, time } = setup();
    load.value = 0.3;
    const t0 = time.now();
    responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
    expect(udp.sent).toHaveLength(0);
    expect(responder.pending).toBe(1);
    time.advance(29);
    expect(udp.sent).toHaveLength(0);
    time.advance(1);
    expect(udp.sent).toHaveLength(1);
    expect(udp.sent[0].at - t0).toBe(30);
    expect(responder.pending).toBe(0);
  });

  it('quadratic curve: 0.5 of 80 ms -> 20 ms; fast-mode 300s are raced too', () => {
    const { responder, udp, load, time } = setup({ redirect: 'fast', raceCurve: 'quadratic', raceMaxDelayMs: 80 });
    load.value = 0.5;
    const t0 = time.now();
    responder.handle(udp, request(), CLIENT, 1);
    time.advance(100);
    expect(udp.sent.map((s) => s.at - t0)).toEqual([20]);
  });

  it('the least-loaded of three relays answers first', () => {
    const relays = [0.3, 0, 0.1].map((l) => {
      const s = setup();
      s.load.value = l;
      return s;
    });
    const nonce = relays[0].nonces.issue(); // same fleet key: valid everywhere
    const req = request({ auth: { nonce } });
    for (const r of relays) r.responder.handle(r.udp, req, CLIENT, 1);
    const arrivals = relays.map((r) => {
      r.time.advance(200);
      return r.udp.sent[0].at - (r.time.now() - 200);
    });
    expect(arrivals).toEqual([30, 0, 10]);
  });

  it('a full relay is silent on Allocate (both steps, both modes) and counts it', () => {
    for (const redirect of ['strict', 'fast'] as const) {
      const { responder, udp, nonces, load, metrics, time } = setup({ redirect });
      load.value = 1;
      responder.handle(udp, request(), CLIENT, 1);
      responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
      time.advance(1000);
      expect(udp.sent).toHaveLength(0);
      expect(metrics.get('silent-full')).toBe(2);
    }
  });

  it('a draining relay is silent on Allocate, also for answers already waiting in the queue', () => {
    const { responder, udp, nonces, load, metrics, drain, time } = setup();
    load.value = 0.5;
    responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
    drain.drain();
    responder.handle(udp, request(), CLIENT, 1);
    responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
    time.advance(1000);
    expect(udp.sent).toHaveLength(0);
    expect(metrics.get('silent-draining')).toBe(3);
    drain.undrain();
    responder.handle(udp, request(), CLIENT, 1);
    expect(udp.sent).toHaveLength(1);
  });

  it('bounds the pending answers (one timer) and counts what does not fit', () => {
    const { responder, udp, nonces, load, metrics, time } = setup({ maxPending: 10 });
    load.value = 0.5;
    const nonce = nonces.issue();
    const armedBefore = time.armed;
    for (let i = 0; i < 25; i++) responder.handle(udp, request({ auth: { nonce } }), CLIENT, 1000 + i);
    expect(responder.pending).toBe(10);
    expect(time.armed - armedBefore).toBe(1);
    expect(metrics.get('dropped-queue-full')).toBe(15);
    time.advance(50);
    expect(udp.sent).toHaveLength(10);
  });

  it('close drops the pending answers', () => {
    const { responder, udp, nonces, load, time } = setup();
    load.value = 0.5;
    responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
    responder.close();
    responder.close();
    time.advance(1000);
    responder.handle(udp, request({ method: Method.Binding }), CLIENT, 1);
    expect(udp.sent).toHaveLength(0);
  });

  it('does not delay on TCP/TLS (one relay gets the stream) and sends a full relay\'s stream clients elsewhere', () => {
    const directory = new StaticRelayDirectory([
      { id: 'r1', load: 1 },
      { id: 'r2', load: 0.2, alternates: { tcp4: { family: 4, address: '10.9.9.2', port: 3478 } } },
    ]);
    const { responder, nonces, load, time, metrics } = setup({}, { directory });
    const tcp = new FakeTransport('tcp', time);
    load.value = 0.5;
    responder.handle(tcp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
    expect(tcp.sent).toHaveLength(1);
    expect(readAddress(tcp.last(), Attr.ALTERNATE_SERVER)).toEqual(ALTERNATES.tcp4);
    load.value = 1;
    responder.handle(tcp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
    expect(readAddress(tcp.last(), Attr.ALTERNATE_SERVER)).toEqual({ family: 4, address: '10.9.9.2', port: 3478 });
    expect(verifyIntegrity(tcp.last(), KEY)).toBe('ok');
    // no other relay for UDP: silent
    const udp = new FakeTransport('udp', time);
    responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 1);
    expect(udp.sent).toHaveLength(0);
    expect(metrics.get('silent-full')).toBe(1);
  });
});

describe('AnycastResponder: everything else on G', () => {
  it('437 for Refresh, CreatePermission, ChannelBind, Connect, ConnectionBind: never an allocation on G', () => {
    const { responder, udp, metrics, nonces } = setup();
    const methods = [Method.Refresh, Method.CreatePermission, Method.ChannelBind, Method.Connect, Method.ConnectionBind];
    for (const method of methods) {
      responder.handle(udp, request({ method, auth: { nonce: nonces.issue() } }), CLIENT, 1);
      const res = udp.last();
      expect(res.method).toBe(method);
      expect(readErrorCode(res)).toEqual({ code: 437, reason: '' });
      expect(attrTypes(res)).toEqual([Attr.ERROR_CODE]);
    }
    expect(metrics.get('437')).toBe(methods.length);
  });

  it('drops and counts indications, responses, unknown methods, ChannelData and malformed Allocates', () => {
    const { responder, udp, metrics } = setup();
    responder.handle(udp, request({ method: Method.Send, cls: StunClass.Indication }), CLIENT, 1);
    responder.handle(udp, request({ method: Method.Binding, cls: StunClass.SuccessResponse }), CLIENT, 1);
    responder.handle(udp, request({ method: 0x0ff }), CLIENT, 1);
    responder.handle(udp, request({ requestedTransport: false }), CLIENT, 1);
    const bad = Buffer.from(request({ fingerprint: true }).raw);
    bad[bad.length - 1] ^= 1;
    responder.handle(udp, msgOf(bad), CLIENT, 1);
    const unknown = new StunWriter().reset(Method.Allocate, StunClass.Request, newTransactionId());
    unknown.addRequestedTransport(17).addUint32(0x7fff, 1);
    responder.handle(udp, msgOf(unknown.toBuffer()), CLIENT, 1);
    responder.dropChannelData(104);
    expect(udp.sent).toHaveLength(0);
    expect(metrics.get('dropped-indication')).toBe(1);
    expect(metrics.get('dropped-invalid')).toBe(5);
    expect(metrics.get('dropped-channel-data')).toBe(1);
  });
});

describe('AnycastResponder: amplification bound', () => {
  it('rate-limits unauthenticated answers per source (burst 20, then 10/s) but not authenticated 300s', () => {
    const { responder, udp, nonces, metrics, time } = setup();
    for (let i = 0; i < 100; i++) responder.handle(udp, request({ method: Method.Binding }), CLIENT, 1);
    for (let i = 0; i < 100; i++) responder.handle(udp, request(), CLIENT, 1);
    expect(udp.sent).toHaveLength(20);
    expect(metrics.get('dropped-rate-limit')).toBe(180);
    const nonce = nonces.issue();
    for (let i = 0; i < 50; i++) responder.handle(udp, request({ auth: { nonce } }), CLIENT, 1);
    expect(metrics.get('300')).toBe(50);
    time.advance(1000);
    for (let i = 0; i < 100; i++) responder.handle(udp, request(), CLIENT, 1);
    expect(metrics.get('401')).toBe(10);
    // another source is not affected
    responder.handle(udp, request(), '192.0.2.77', 1);
    expect(metrics.get('401')).toBe(11);
  });

  it('does not rate-limit TCP/TLS (their sources cannot be spoofed)', () => {
    const { responder, time, metrics } = setup();
    const tcp = new FakeTransport('tcp', time);
    for (let i = 0; i < 100; i++) responder.handle(tcp, request({ method: Method.Binding }), CLIENT, 1);
    expect(tcp.sent).toHaveLength(100);
    expect(metrics.get('dropped-rate-limit')).toBe(0);
  });

  it('a flood from 20 000 spoofed sources gets at most the global burst of answers', () => {
    const { responder, udp, metrics } = setup({}, { rate: { globalRate: 500, globalBurst: 500, maxSources: 1000 } });
    for (let i = 0; i < 20_000; i++) {
      responder.handle(udp, request(), `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 1024 + (i % 60000));
    }
    expect(udp.sent).toHaveLength(500);
    expect(metrics.get('dropped-rate-limit')).toBe(19_500);
  });

  it('reply/request byte ratios of the smallest requests an attacker can send (docs/anycast.md)', () => {
    const { responder, udp, metrics, nonces } = setup({}, { rate: { perSourceRate: 0, globalRate: 0 } });
    const ratio = (req: StunMessage, client = CLIENT): number => {
      const before = udp.sent.length;
      responder.handle(udp, req, client, 40000);
      expect(udp.sent.length).toBe(before + 1);
      return udp.sent[before].data.length / req.raw.length;
    };
    const binding = request({ method: Method.Binding }); // 20 bytes
    const allocate = request(); // 28 bytes: header + REQUESTED-TRANSPORT
    expect(binding.raw.length).toBe(20);
    expect(allocate.raw.length).toBe(28);
    const nonceLength = nonces.issue().length;
    const realmPadded = (REALM.length + 3) & ~3;
    // Binding: 32 / 20 (IPv4), 44 / 20 (IPv6)
    expect(ratio(binding)).toBeCloseTo(32 / 20);
    expect(ratio(binding, CLIENT6)).toBeCloseTo(44 / 20);
    // 401: header + ERROR-CODE (8) + REALM + NONCE
    const size401 = 20 + 8 + 4 + realmPadded + 4 + ((nonceLength + 3) & ~3);
    expect(ratio(allocate)).toBeCloseTo(size401 / 28);
    // 437 to a 20-byte Refresh: 28 / 20
    expect(ratio(request({ method: Method.Refresh }))).toBeCloseTo(28 / 20);
    expect(size401 / 28).toBeLessThan(3.5);
    // fast mode: 300 + ALTERNATE-SERVER (12) + REALM + NONCE
    const fast = setup({ redirect: 'fast' }, { rate: { perSourceRate: 0, globalRate: 0 } });
    fast.responder.handle(fast.udp, allocate, CLIENT, 40000);
    expect(fast.udp.sent[0].data.length).toBe(size401 + 12);
    expect((size401 + 12) / 28).toBeLessThan(4);
    // an authenticated 300 is smaller than the request that earned it
    const auth = request({ auth: { nonce: nonces.issue() } });
    expect(ratio(auth)).toBeLessThan(1);
    expect(metrics.bytesOut).toBeGreaterThan(0);
    expect(metrics.bytesIn).toBeGreaterThan(0);
  });
});

describe('AnycastResponder: --race single', () => {
  it('exactly one relay answers each flow; Binding is answered by all', () => {
    const directory = new StaticRelayDirectory([
      { id: 'r1', load: 0.1 },
      { id: 'r2', load: 0.2 },
      { id: 'r3', load: 0.3 },
    ]);
    const relays = ['r1', 'r2', 'r3'].map((relayId) => setup({ race: 'single', relayId }, { directory }));
    const nonce = relays[0].nonces.issue();
    const wins = new Map<string, number>();
    for (let port = 20000; port < 20300; port++) {
      const req = request({ auth: { nonce } });
      const answered: string[] = [];
      relays.forEach((r, i) => {
        const before = r.udp.sent.length;
        r.responder.handle(r.udp, req, CLIENT, port);
        r.time.advance(200);
        if (r.udp.sent.length > before) answered.push(`r${i + 1}`);
      });
      expect(answered).toHaveLength(1);
      wins.set(answered[0], (wins.get(answered[0]) ?? 0) + 1);
    }
    expect(wins.size).toBe(3); // spread over the relays
    for (const r of relays) r.responder.handle(r.udp, request({ method: Method.Binding }), CLIENT, 1);
    expect(relays.map((r) => r.metrics.get('binding'))).toEqual([1, 1, 1]);
    expect(relays.reduce((n, r) => n + r.metrics.get('silent-not-chosen'), 0)).toBe(600);
  });

  it('needs a directory', () => {
    expect(() => setup({ race: 'single' })).toThrow(/directory/);
  });
});

interface StunPackage {
  createMessage(type: number): {
    addAttribute(type: number, value: Buffer): unknown;
    addUsername(u: string): unknown;
    addRealm(r: string): unknown;
    addNonce(n: string): unknown;
    addMessageIntegrity(key: Buffer): unknown;
    addFingerprint(): unknown;
    toBuffer(): Buffer;
  };
  decode(b: Buffer): {
    getError(): { code: number; reason: string } | undefined;
    getAttribute(type: number): { value: unknown } | undefined;
  };
  validateMessageIntegrity(m: unknown, key: Buffer): boolean;
  validateFingerprint(m: unknown): boolean;
  constants: Record<string, number>;
}

/** A race group whose ranking the test sets, recording the claims the responder sends. */
class FakeGroup implements RaceGroupView {
  peers = 2;
  loadStep = 0;
  nextRank = 0;
  readonly claims: string[] = [];
  rank(): number {
    return this.nextRank;
  }
  claim(clientAddress: string, clientPort: number, transactionId: Buffer): void {
    this.claims.push(`${clientAddress}|${clientPort}|${transactionId.toString('hex')}`);
  }
  refresh(): void {}
}

describe('AnycastResponder: one answer per race (race group)', () => {
  it('rank 0 answers at once and claims the request; rank r waits r race steps', () => {
    const group = new FakeGroup();
    const { responder, udp, time } = setup({ raceStepMs: 20 }, { group });
    const first = request();
    responder.handle(udp, first, CLIENT, 1);
    expect(udp.sent).toHaveLength(1);
    expect(group.claims).toEqual([`${CLIENT}|1|${first.transactionId.toString('hex')}`]);
    group.nextRank = 2;
    responder.handle(udp, request(), CLIENT, 2);
    time.advance(39);
    expect(udp.sent).toHaveLength(1);
    time.advance(1);
    expect(udp.sent).toHaveLength(2);
    expect(group.claims).toHaveLength(2);
  });

  it('a peer claim cancels the pending answer (nothing sent, no claim of ours); a claim that came first suppresses it', () => {
    const group = new FakeGroup();
    const { responder, udp, time, metrics } = setup({}, { group });
    group.nextRank = 1;
    const req = request();
    responder.handle(udp, req, CLIENT, 7);
    expect(responder.pending).toBe(1);
    responder.peerClaimed(CLIENT, 7, req.transactionId, requestHashOf(req.raw));
    time.advance(1000);
    expect(udp.sent).toHaveLength(0);
    expect(group.claims).toHaveLength(0);
    expect(metrics.get('silent-claimed')).toBe(1);

    const early = request();
    responder.peerClaimed(CLIENT, 8, early.transactionId, requestHashOf(early.raw));
    responder.handle(udp, early, CLIENT, 8);
    time.advance(1000);
    expect(udp.sent).toHaveLength(0);
    expect(metrics.get('silent-claimed')).toBe(2);
  });

  it('a claim is remembered only briefly: a retransmission after the claimer died is answered', () => {
    const group = new FakeGroup();
    const { responder, udp, time } = setup({}, { group });
    group.nextRank = 1;
    const req = request();
    responder.peerClaimed(CLIENT, 9, req.transactionId, requestHashOf(req.raw)); // the claimer answered, then died
    time.advance(250); // the client's retransmission timer
    responder.handle(udp, req, CLIENT, 9);
    time.advance(20);
    expect(udp.sent).toHaveLength(1);
  });

  it('a claim for one request does not silence another that reuses its transaction id (libjuice\'s retry)', () => {
    const group = new FakeGroup();
    const { responder, udp, time, nonces } = setup({}, { group });
    group.nextRank = 1;
    const tid = newTransactionId();
    const challenge = request({ tid });
    const retry = request({ tid, auth: { nonce: nonces.issue() } });
    responder.peerClaimed(CLIENT, 11, tid, requestHashOf(challenge.raw));
    responder.peerClaimed(CLIENT, 11, tid, requestHashOf(retry.raw));
    responder.handle(udp, challenge, CLIENT, 11); // silenced by its own claim
    responder.handle(udp, retry, CLIENT, 11); // silenced by its own claim, not by the challenge's
    time.advance(1000);
    expect(udp.sent).toHaveLength(0);
    const third = request({ tid, auth: { nonce: nonces.issue(), sha256: true } });
    responder.handle(udp, third, CLIENT, 11); // no claim for this one: answered after its rank's wait
    time.advance(1000);
    expect(udp.sent).toHaveLength(1);
  });

  it('a retransmission while our answer waits does not queue a second answer', () => {
    const group = new FakeGroup();
    const { responder, udp, time } = setup({}, { group });
    group.nextRank = 1;
    const req = request();
    responder.handle(udp, req, CLIENT, 10);
    responder.handle(udp, req, CLIENT, 10);
    expect(responder.pending).toBe(1);
    time.advance(100);
    expect(udp.sent).toHaveLength(1);
  });
});

describe('AnycastResponder: byte budget of unauthenticated answers', () => {
  it('answers only what the requests paid for (plus the burst), at any source spread; 300s to valid MI are not budgeted', () => {
    const budget = new AnswerBudget({ burstBytes: 200, refundBytes: 100, reserveBytes: 0, earnRatio: 1 });
    const { responder, udp, nonces, metrics } = setup({}, { budget, rate: { perSourceRate: 0, globalRate: 0 } });
    let bytesIn = 0;
    for (let i = 0; i < 2000; i++) {
      const req = request(); // 28 bytes: the smallest Allocate
      bytesIn += req.raw.length;
      responder.handle(udp, req, `198.51.${i >> 8}.${i & 255}`, 1000 + i);
    }
    const bytesOut = udp.sent.reduce((n, s) => n + s.data.length, 0);
    expect(bytesOut).toBeLessThanOrEqual(bytesIn + 200);
    expect(bytesOut).toBeGreaterThan(bytesIn - 200);
    expect(metrics.get('dropped-budget')).toBeGreaterThan(1000);
    const sentBefore = udp.sent.length;
    responder.handle(udp, request({ auth: { nonce: nonces.issue() } }), CLIENT, 2);
    expect(udp.sent).toHaveLength(sentBefore + 1);
    expect(readErrorCode(udp.last())).toMatchObject({ code: 300 });
  });

  it('retransmissions come first: a copy seen before may spend the reserve that fresh requests may not', () => {
    const budget = new AnswerBudget({ burstBytes: 100, refundBytes: 0, reserveBytes: 100, earnRatio: 1 });
    const { responder, udp, metrics } = setup({}, { budget });
    const req = request();
    responder.handle(udp, req, CLIENT, 4); // first copy: only what lies above the reserve (nothing)
    expect(udp.sent).toHaveLength(0);
    expect(metrics.get('dropped-budget')).toBe(1);
    responder.handle(udp, req, CLIENT, 4); // the client retransmits
    expect(udp.sent).toHaveLength(1);
  });

  it('a budget drop is still claimed: the other relays do not answer instead', () => {
    const group = new FakeGroup();
    const budget = new AnswerBudget({ burstBytes: 1, refundBytes: 0, reserveBytes: 0, earnRatio: 1 });
    const { responder, udp, metrics } = setup({}, { group, budget });
    responder.handle(udp, request(), CLIENT, 3);
    expect(udp.sent).toHaveLength(0);
    expect(group.claims).toHaveLength(1);
    expect(metrics.get('dropped-budget')).toBe(1);
  });
});
