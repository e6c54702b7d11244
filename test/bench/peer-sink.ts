/**
 * PeerSink: peer UDP sockets that the kernel counts instead of the generator reading them.
 *
 * Reading every relayed datagram in Node would cost the generator about as much CPU as the relay spends on it,
 * so the generator would run out first. The sink sockets live in a worker thread that blocks (Atomics.wait) while
 * a step sends: nobody reads them, their tiny receive buffers stay full, and the kernel counts every further
 * datagram in the socket's drop counter (/proc/net/udp). After the step the worker wakes up and reads (counts)
 * the few datagrams still queued. Datagrams that reached a sink = Δdrops + drained.
 *
 * Side effect, stated in the report: the relay's sendmsg() to a full socket ends in a drop, which is cheaper for
 * the relay than waking a reader (on a real host, egress ends at the NIC queue and wakes nobody either).
 */
import dgram from 'node:dgram';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { udpStats } from './proc.js';

interface SinkWorkerData {
  kind: 'peer-sink';
  count: number;
  address: string;
  control: SharedArrayBuffer;
}

type ToWorker = { type: 'block'; stepId: number } | { type: 'drain' };
type FromWorker = { type: 'ports'; ports: number[] } | { type: 'blocked' } | { type: 'drained'; count: number };

/** control[0]: 0 = stay blocked, 1 = wake up. */
const WAKE = 0;

async function runSinkWorker(data: SinkWorkerData): Promise<void> {
  const port = parentPort;
  if (!port) return;
  const control = new Int32Array(data.control);
  let stepId = -1;
  let drained = 0;
  const sockets: dgram.Socket[] = [];
  for (let i = 0; i < data.count; i++) {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 });
    await new Promise<void>((resolve) => s.bind(0, data.address, resolve));
    s.on('message', (msg: Buffer) => {
      if (msg.length >= 4 && msg.readUInt32BE(0) === stepId) drained++;
    });
    sockets.push(s);
  }
  const send = (m: FromWorker): void => port.postMessage(m);
  port.on('message', (m: ToWorker) => {
    if (m.type === 'block') {
      stepId = m.stepId;
      drained = 0;
      send({ type: 'blocked' });
      Atomics.wait(control, WAKE, 0);
      Atomics.store(control, WAKE, 0);
    } else {
      // Let the event loop read what the sockets still hold, then report.
      setTimeout(() => send({ type: 'drained', count: drained }), 20);
    }
  });
  send({ type: 'ports', ports: sockets.map((s) => s.address().port) });
}

if (!isMainThread && (workerData as SinkWorkerData | undefined)?.kind === 'peer-sink') {
  void runSinkWorker(workerData as SinkWorkerData);
}

export class PeerSink {
  private waiter: ((m: FromWorker) => void) | undefined;
  private dropsAtBlock = 0;
  readonly ports: number[] = [];
  private readonly portSet = new Set<number>();

  private constructor(
    private readonly worker: Worker,
    private readonly control: Int32Array,
  ) {
    worker.on('message', (m: FromWorker) => this.waiter?.(m));
  }

  private next<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = (): void => reject(new Error('peer sink worker exited'));
      this.worker.once('exit', onExit);
      this.waiter = (m) => {
        if (m.type !== type) return;
        this.waiter = undefined;
        this.worker.off('exit', onExit);
        resolve(m as Extract<FromWorker, { type: T }>);
      };
    });
  }

  static async start(count: number, address: string): Promise<PeerSink> {
    const control = new SharedArrayBuffer(4);
    const data: SinkWorkerData = { kind: 'peer-sink', count, address, control };
    const sink = new PeerSink(new Worker(fileURLToPath(import.meta.url), { workerData: data }), new Int32Array(control));
    const { ports } = await sink.next('ports');
    for (const p of ports) {
      sink.ports.push(p);
      sink.portSet.add(p);
    }
    return sink;
  }

  /** Stops the worker from reading (for the step `stepId`) and notes the drop counters. */
  async block(stepId: number): Promise<void> {
    const blocked = this.next('blocked');
    this.worker.postMessage({ type: 'block', stepId } satisfies ToWorker);
    await blocked;
    this.dropsAtBlock = udpStats(this.portSet).drops;
  }

  /** Wakes the worker, lets it read what is queued, and returns how many datagrams of the step reached the sinks. */
  async release(): Promise<{ delivered: number; drops: number }> {
    const drops = udpStats(this.portSet).drops - this.dropsAtBlock;
    Atomics.store(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE);
    const drainedMsg = this.next('drained');
    this.worker.postMessage({ type: 'drain' } satisfies ToWorker);
    const { count } = await drainedMsg;
    return { delivered: drops + count, drops };
  }

  async close(): Promise<void> {
    Atomics.store(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE);
    await this.worker.terminate();
  }
}
