/**
 * What the browser tests run inside the page (Chromium through playwright's `page.evaluate`, in the anycast test
 * and in test/interop/chromium-driver.mjs from dist/; Firefox as the source of a served page): two
 * RTCPeerConnections in one page, relay-only ICE through one TURN URL, `messages` data-channel messages from the
 * first to the second. Self-contained on purpose: the browser gets this function's source, so it may use nothing
 * from outside its own body.
 */

export interface ExchangeArgs {
  url: string;
  /** The second peer's TURN URL when it is not `url` (a relay at another PoP). */
  urlB?: string;
  /** The second peer sends every message back; the exchange ends when the first has them all too. */
  echo?: boolean;
  username: string;
  credential: string;
  messages: number;
  timeoutMs: number;
}

export interface ExchangeResult {
  /** Messages the second peer received, in order. */
  received: string[];
  /** With `echo`: how many echoes the first peer received. */
  echoed?: number;
  /** Every non-empty ICE candidate line both peers gathered. */
  candidates: string[];
  /** The first peer's local and remote candidates of the pair that carried the data (from getStats). */
  local?: CandidateStats;
  remote?: CandidateStats;
  /** icecandidateerror events and addIceCandidate failures. */
  errors: string[];
  /** Set when the exchange did not complete. */
  error?: string;
}

export interface CandidateStats {
  candidateType?: string;
  address?: string;
  relayProtocol?: string;
}

export async function relayOnlyExchange(args: ExchangeArgs): Promise<ExchangeResult> {
  const config: RTCConfiguration = {
    iceServers: [{ urls: args.url, username: args.username, credential: args.credential }],
    iceTransportPolicy: 'relay',
  };
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(
    args.urlB === undefined ? config : { ...config, iceServers: [{ urls: args.urlB, username: args.username, credential: args.credential }] },
  );
  const candidates: string[] = [];
  const errors: string[] = [];
  const received: string[] = [];
  const trickle = (from: RTCPeerConnection, to: RTCPeerConnection, name: string) => {
    from.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) {
        candidates.push(e.candidate.candidate);
        to.addIceCandidate(e.candidate).catch((err: unknown) => errors.push(`${name} addIceCandidate: ${String(err)}`));
      }
    };
    from.onicecandidateerror = (e) => {
      const ev = e as RTCPeerConnectionIceErrorEvent;
      errors.push(`${name} icecandidateerror ${ev.errorCode} ${ev.errorText} ${ev.url}`);
    };
  };
  trickle(a, b, 'a');
  trickle(b, a, 'b');
  let timer: ReturnType<typeof setTimeout> | undefined;
  let echoed = 0;
  const channel = a.createDataChannel('anyturn', { ordered: true });
  const allReceived = new Promise<void>((resolve, reject) => {
    let done = 0; // what must arrive: the messages at the second peer, and with `echo` their echoes at the first
    const need = args.echo ? 2 : 1;
    const one = () => {
      done += 1;
      if (done === need) resolve();
    };
    b.ondatachannel = (ev) => {
      const back = ev.channel;
      back.onmessage = (m) => {
        received.push(String(m.data));
        if (args.echo) back.send(`echo:${String(m.data)}`);
        if (received.length === args.messages) one();
      };
    };
    if (args.echo) {
      channel.onmessage = () => {
        echoed += 1;
        if (echoed === args.messages) one();
      };
    }
    timer = setTimeout(
      () => reject(new Error(`${received.length}/${args.messages} messages${args.echo ? `, ${echoed} echoes` : ''} after ${args.timeoutMs} ms`)),
      args.timeoutMs,
    );
  });
  channel.onopen = () => {
    for (let i = 0; i < args.messages; i++) channel.send(`hello ${i}`);
  };
  const result: ExchangeResult = { received, candidates, errors };
  try {
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(a.localDescription!);
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(b.localDescription!);
    await allReceived;
    if (args.echo) result.echoed = echoed;
    // the pair that carried the data: Chromium names it on the transport, Firefox marks it `selected`
    const stats = await a.getStats();
    let pair: Record<string, unknown> | undefined;
    stats.forEach((s: Record<string, unknown>) => {
      if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pair = stats.get(s.selectedCandidatePairId);
    });
    if (pair === undefined) {
      stats.forEach((s: Record<string, unknown>) => {
        if (s.type === 'candidate-pair' && s.selected === true) pair = s;
      });
    }
    const candidate = (id: unknown): CandidateStats | undefined => {
      const c = stats.get(id as string) as Record<string, unknown> | undefined;
      if (c === undefined) return undefined;
      return {
        candidateType: c.candidateType as string | undefined,
        address: (c.address ?? c.ip) as string | undefined,
        relayProtocol: c.relayProtocol as string | undefined,
      };
    };
    if (pair !== undefined) {
      result.local = candidate(pair.localCandidateId);
      result.remote = candidate(pair.remoteCandidateId);
    }
  } catch (err) {
    result.error = String(err);
  } finally {
    clearTimeout(timer);
    a.close();
    b.close();
  }
  return result;
}
