/**
 * TrafficRig: F allocations, each with its own peer UDP socket on loopback, a permission and a channel to it,
 * driven with ChannelData at a set rate and packet size (the measuring half of the load generator).
 *
 * Client → relay: ChannelData (4-byte header + payload; or Send indications, see Framing), round-robin over the client sockets, sent in batches on
 * a 1 ms timer from preallocated buffers. Relay → peer: the first R flows have *reader* peers in this thread,
 * which count each datagram and record its one-way latency (and, with `echo`, stamp the time and send it back, so
 * the relay turns it into ChannelData to the client, which records the return latency and the round trip). The
 * other flows have *sink* peers (peer-sink.ts): counted by the kernel, not read, so the generator spends its CPU
 * on sending.
 *
 * Payload layout (bytes after the ChannelData header): 0 step id, 4 flow index, 8 sequence number,
 * 16 float64 client send time (performance.now, ms), 24 float64 peer echo time. Packets of an earlier step are
 * ignored, so the counts of a step are exact.
 */
import dgram from 'node:dgram';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  newTransactionId,
  writeChannelDataHeader,
  type TransportAddress,
} from '../../src/stun/index.js';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { PeerSink } from './peer-sink.js';
import { hostBusyPct, otherCpuSampler, readCpuSeconds, readHostCpu, udpStats } from './proc.js';
import { TurnSession, type Endpoint, type TurnCredentials } from './turn-client.js';

export const MIN_PAYLOAD_BYTES = 32;
const RING = 64;
const CHANNEL = 0x4000;
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const TICK_MS = 1;
/**
 * Permissions last 300 s, channels 600 s and allocations 600 s by default (RFC 8656): a long run refreshes all
 * three (CreatePermission, ChannelBind, Refresh) between steps once this much time has passed.
 */
const REFRESH_EVERY_MS = 60_000;
/** At most this much backlog (in ms of the offered rate) is sent in one tick after a stall. */
const MAX_CATCH_UP_MS = 5;

/**
 * How the clients send: ChannelData (the fast path every browser uses once a channel is bound) or Send
 * indications (for servers that do not relay ChannelData from clients).
 */
export type Framing = 'channel-data' | 'send-indication';

export interface RigOptions {
  framing: Framing;
  server: Endpoint;
  creds: TurnCredentials;
  flows: number;
  /** How many of the flows have reader peers (latency, echo); the rest have kernel-counted sinks. */
  readerFlows: number;
  payloadBytes: number;
  localAddress: string;
}

export interface StepOptions {
  ratePps: number;
  durationMs: number;
  drainMs: number;
  /** Readers echo every datagram back through the relay (only meaningful with readersOnly). */
  echo: boolean;
  /** Send only on the reader flows (latency phase) instead of all flows. */
  readersOnly: boolean;
  /** The server's pid, to sample its CPU over exactly the sending window. */
  serverPid: number;
  /**
   * Send each sink flow's payload straight to its peer, not through the server: what the generator and the kernel
   * spend on moving the same datagrams without a relay (the baseline subtracted from whole-host CPU).
   */
  direct?: boolean;
}

export interface StepResult {
  offeredPps: number;
  sent: number;
  achievedPps: number;
  /** Datagrams that reached the peers (client → relay → peer), readers and sinks. */
  received: number;
  lossPct: number;
  /** With echo: ChannelData messages back at the clients (peer → relay → client), and their loss vs `received`. */
  echoed: number;
  echoLossPct: number;
  /** Datagrams relayed by the server per second of sending (both directions). */
  relayedPps: number;
  /** Latencies, from the reader flows only. */
  forward: LatencySummary;
  back: LatencySummary;
  roundTrip: LatencySummary;
  generatorCpuPct: number;
  serverCpuPct: number;
  /** Busy share of the whole host (every core, every process, softirq included) while sending, in %. */
  hostBusyPct: number;
  /** CPU used by every other process on the host while sending (not the server, the generator or the bench), % of one core. */
  otherCpuPct: number;
  /** Receive-buffer drops counted by the kernel during the step, per socket group (sinks excluded: by design). */
  drops: { serverListen: number; serverRelay: number; generatorPeers: number; generatorClients: number };
  sendErrors: number;
}

interface Flow {
  index: number;
  session: TurnSession;
  relayed: TransportAddress;
  /** Reader peer socket, or undefined for a sink flow. */
  peer: dgram.Socket | undefined;
  peerPort: number;
  /** Preallocated messages; the payload starts at `payloadOffset` in each. */
  ring: Buffer[];
  ringPos: number;
  seq: number;
}

async function bindReader(localAddress: string): Promise<dgram.Socket> {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: SOCKET_BUFFER_BYTES, sendBufferSize: SOCKET_BUFFER_BYTES });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, localAddress, () => {
      s.off('error', reject);
      resolve();
    });
  });
  return s;
}

/** One ring buffer: a ChannelData message, or a Send indication whose DATA value is the payload. */
function frame(framing: Framing, payloadBytes: number, peer: TransportAddress): Buffer {
  if (framing === 'channel-data') {
    const b = Buffer.alloc(4 + payloadBytes);
    writeChannelDataHeader(b, 0, CHANNEL, payloadBytes);
    return b;
  }
  return new StunWriter()
    .reset(Method.Send, StunClass.Indication, newTransactionId())
    .addXorAddress(Attr.XOR_PEER_ADDRESS, peer)
    .addBytes(Attr.DATA, Buffer.alloc(payloadBytes))
    .toBuffer();
}

/** Where the payload starts in a frame: after the 4-byte ChannelData header, or after the STUN header, XOR-PEER-ADDRESS (IPv4) and the DATA attribute header. */
function payloadOffsetOf(framing: Framing): number {
  return framing === 'channel-data' ? 4 : 20 + 12 + 4;
}

function closeAll(flows: Flow[]): void {
  for (const f of flows) {
    f.session.close();
    f.peer?.close();
  }
}

export class TrafficRig {
  private stepId = 0;
  private refreshedAt = performance.now();
  private echo = false;
  private received = 0;
  private echoed = 0;
  private sendErrors = 0;
  private readonly forward = new LatencyHistogram();
  private readonly back = new LatencyHistogram();
  private readonly roundTrip = new LatencyHistogram();

  private constructor(
    private readonly flows: Flow[],
    private readonly sink: PeerSink | undefined,
    private readonly opts: RigOptions,
  ) {}

  /** Creates the peers, then the allocations, permissions and channels (one flow after the other). */
  static async create(opts: RigOptions): Promise<TrafficRig> {
    const flows: Flow[] = [];
    const payloadBytes = Math.max(MIN_PAYLOAD_BYTES, opts.payloadBytes);
    const off = payloadOffsetOf(opts.framing);
    const readers = Math.max(1, Math.min(opts.readerFlows, opts.flows));
    const sink = opts.flows > readers ? await PeerSink.start(opts.flows - readers, opts.localAddress) : undefined;
    try {
      for (let i = 0; i < opts.flows; i++) {
        const session = await TurnSession.open(opts.server, opts.creds, opts.localAddress, SOCKET_BUFFER_BYTES);
        const peer = i < readers ? await bindReader(opts.localAddress) : undefined;
        const peerPort = peer ? peer.address().port : sink!.ports[i - readers];
        const flow: Flow = { index: i, session, relayed: { family: 4, address: '', port: 0 }, peer, peerPort, ring: [], ringPos: 0, seq: 0 };
        flows.push(flow);
        flow.relayed = await session.allocate();
        const peerAddress: TransportAddress = { family: 4, address: opts.localAddress, port: peerPort };
        await session.createPermission(peerAddress);
        await session.channelBind(CHANNEL, peerAddress);
        if (peer) await new Promise<void>((resolve) => peer.connect(flow.relayed.port, flow.relayed.address, resolve));
        for (let k = 0; k < RING; k++) {
          const b = frame(opts.framing, payloadBytes, peerAddress);
          b.writeUInt32BE(i, off + 4);
          flow.ring.push(b);
        }
      }
    } catch (err) {
      closeAll(flows);
      await sink?.close();
      throw err;
    }
    const rig = new TrafficRig(flows, sink, opts);
    for (const f of flows) rig.attach(f);
    return rig;
  }

  private attach(f: Flow): void {
    const peer = f.peer;
    if (!peer) return;
    peer.on('error', () => {
      this.sendErrors++;
    });
    peer.on('message', (msg: Buffer) => {
      if (msg.length < MIN_PAYLOAD_BYTES || msg.readUInt32BE(0) !== this.stepId) return;
      this.received++;
      const now = performance.now();
      this.forward.record((now - msg.readDoubleBE(16)) * 1000);
      if (this.echo) {
        msg.writeDoubleBE(now, 24);
        peer.send(msg);
      }
    });
    f.session.onChannelData = (msg: Buffer) => {
      if (msg.length < 4 + MIN_PAYLOAD_BYTES || msg.readUInt32BE(4) !== this.stepId) return;
      this.echoed++;
      const now = performance.now();
      this.back.record((now - msg.readDoubleBE(28)) * 1000);
      this.roundTrip.record((now - msg.readDoubleBE(20)) * 1000);
    };
  }

  private dropCounters(): StepResult['drops'] {
    const clients = new Set<number>();
    const readers = new Set<number>();
    const relays = new Set<number>();
    for (const f of this.flows) {
      clients.add(f.session.localPort);
      if (f.peer) readers.add(f.peerPort);
      relays.add(f.relayed.port);
    }
    return {
      serverListen: udpStats(new Set([this.opts.server.port])).drops,
      serverRelay: udpStats(relays).drops,
      generatorPeers: udpStats(readers).drops,
      generatorClients: udpStats(clients).drops,
    };
  }

  /** Refreshes every flow's permission, channel and allocation (as a long-lived client does). */
  private async refreshAll(): Promise<void> {
    for (const f of this.flows) {
      const peer: TransportAddress = { family: 4, address: this.opts.localAddress, port: f.peerPort };
      await f.session.createPermission(peer);
      await f.session.channelBind(CHANNEL, peer);
      // No LIFETIME: the server's default. (node-turn 0.0.6 ends an allocation at once when a Refresh carries a
      // non-zero LIFETIME: it takes the minimum with an undefined maximum.)
      await f.session.refresh();
    }
    this.refreshedAt = performance.now();
  }

  /** Sends at `ratePps` for `durationMs`, waits `drainMs`, and counts what arrived. */
  async step(o: StepOptions): Promise<StepResult> {
    if (performance.now() - this.refreshedAt > REFRESH_EVERY_MS) await this.refreshAll();
    this.stepId++;
    this.echo = o.echo;
    this.received = 0;
    this.echoed = 0;
    this.sendErrors = 0;
    this.forward.reset();
    this.back.reset();
    this.roundTrip.reset();
    // Direct sends go to the sinks only: a reader is connected to its relayed address and would not take them.
    const flows = o.direct ? this.flows.filter((f) => !f.peer) : o.readersOnly ? this.flows.filter((f) => f.peer) : this.flows;
    const peerAddress = this.opts.localAddress;
    const useSink = !o.readersOnly && this.sink !== undefined;
    if (useSink) await this.sink!.block(this.stepId);
    const d0 = this.dropCounters();
    const sessionErrors0 = this.sessionSendErrors();

    const nFlows = flows.length;
    const stepId = this.stepId;
    const off = payloadOffsetOf(this.opts.framing);
    const total = Math.round((o.ratePps * o.durationMs) / 1000);
    const maxBurst = Math.max(1, Math.round((o.ratePps * MAX_CATCH_UP_MS) / 1000));
    let sent = 0;
    let rr = 0;
    const cpu0 = process.cpuUsage();
    const serverCpu0 = readCpuSeconds(o.serverPid);
    const host0 = readHostCpu();
    const others = otherCpuSampler(new Set([o.serverPid, process.pid, process.ppid]));
    const t0 = performance.now();
    let tEnd = t0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        const elapsed = now - t0;
        if (elapsed >= o.durationMs || sent >= total) {
          clearInterval(timer);
          tEnd = now;
          resolve();
          return;
        }
        let n = Math.floor((elapsed * o.ratePps) / 1000) - sent;
        if (n > maxBurst) n = maxBurst;
        for (let k = 0; k < n; k++) {
          const f = flows[rr];
          rr = rr + 1 === nFlows ? 0 : rr + 1;
          const b = f.ring[f.ringPos];
          f.ringPos = f.ringPos + 1 === RING ? 0 : f.ringPos + 1;
          b.writeUInt32BE(stepId, off);
          b.writeUInt32BE(f.seq++, off + 8);
          b.writeDoubleBE(performance.now(), off + 16);
          if (o.direct) f.session.socket.send(b.subarray(off), f.peerPort, peerAddress);
          else f.session.send(b);
        }
        sent += n > 0 ? n : 0;
      };
      const timer = setInterval(tick, TICK_MS);
      tick();
    });
    const wall = (tEnd - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const serverCpu = readCpuSeconds(o.serverPid) - serverCpu0;
    const hostBusy = hostBusyPct(host0, readHostCpu());
    const otherCpu = others.stop();
    await new Promise((r) => setTimeout(r, o.drainMs));
    const sinkCount = useSink ? (await this.sink!.release()).delivered : 0;
    const d1 = this.dropCounters();

    const received = this.received + sinkCount;
    const lossPct = sent > 0 ? (100 * (sent - received)) / sent : 0;
    const echoLossPct = o.echo && this.received > 0 ? (100 * (this.received - this.echoed)) / this.received : 0;
    return {
      offeredPps: o.ratePps,
      sent,
      achievedPps: wall > 0 ? sent / wall : 0,
      received,
      lossPct,
      echoed: this.echoed,
      echoLossPct,
      relayedPps: wall > 0 ? (received + this.echoed) / wall : 0,
      forward: this.forward.summary(),
      back: this.back.summary(),
      roundTrip: this.roundTrip.summary(),
      generatorCpuPct: wall > 0 ? (cpu.user + cpu.system) / 1e4 / wall : 0,
      serverCpuPct: wall > 0 ? (100 * serverCpu) / wall : 0,
      hostBusyPct: hostBusy,
      otherCpuPct: otherCpu,
      drops: {
        serverListen: d1.serverListen - d0.serverListen,
        serverRelay: d1.serverRelay - d0.serverRelay,
        generatorPeers: d1.generatorPeers - d0.generatorPeers,
        generatorClients: d1.generatorClients - d0.generatorClients,
      },
      sendErrors: this.sendErrors + this.sessionSendErrors() - sessionErrors0,
    };
  }

  private sessionSendErrors(): number {
    let n = 0;
    for (const f of this.flows) n += f.session.sendErrors;
    return n;
  }

  /** Deletes the allocations (Refresh lifetime 0) and closes every socket and the sink worker. */
  async close(): Promise<void> {
    await Promise.allSettled(this.flows.map((f) => f.session.refresh(0)));
    closeAll(this.flows);
    await this.sink?.close();
  }
}
