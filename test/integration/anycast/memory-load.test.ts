/**
 * Memory enters the load score (issue 11 item 2): a relay whose resident memory is over `--memory-budget` scores 1
 * (`full`) and stays silent for Allocates on G, so the race goes to the others; with the default budget (the V8
 * heap limit only) the same process scores well below 1 and answers, and state held in its heap raises the score. In-process daemon, G = 127.0.0.2 on loopback.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { getHeapStatistics } from 'node:v8';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRelayConfig } from '../../../src/config/schema.js';
import { isAnyturnError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/log.js';
import { Method, StunClass, StunWriter, decodeStun, newTransactionId } from '../../../src/stun/index.js';
import { startRelay, type RunningRelay } from '../../../relay/daemon.js';
import { waitFor } from '../../lab/netns.js';
import { freePort } from '../relay/relay-process.js';

const G = '127.0.0.2';

async function start(extra: string[]): Promise<{ relay: RunningRelay; port: number }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort(G);
    const config = loadRelayConfig([
      '--listen', '127.0.0.1', '--anycast', G, '--port', String(port), '--no-tcp', '--user', 'u:p',
      '--nonce-key', randomBytes(32).toString('hex'), '--redirect', 'fast', ...extra,
    ]);
    try {
      return { relay: await startRelay(config, { log: silentLogger() }), port };
    } catch (err) {
      if (!(isAnyturnError(err) && err.code === 'ATN_ERR_LISTEN_BIND') || attempt >= 5) throw err;
    }
  }
}

function metric(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return Number(found?.slice(line.length + 1));
}

/** Sends `count` unauthenticated Allocates to G (one socket each); `answered()` counts the answers so far. */
async function sendAllocates(port: number, count: number): Promise<{ answered(): number; close(): void }> {
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<dgram.Socket>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  })));
  let answered = 0;
  for (const s of sockets) {
    const tid = newTransactionId();
    s.on('message', (m) => {
      const msg = decodeStun(m);
      if (typeof msg !== 'string' && msg.transactionId.equals(tid)) answered += 1;
    });
    s.send(new StunWriter().reset(Method.Allocate, StunClass.Request, tid).addRequestedTransport(17).addFingerprint().toBuffer(), port, G);
  }
  return { answered: () => answered, close: () => sockets.forEach((s) => s.close()) };
}

describe('memory in the load score', () => {
  let relay: RunningRelay | undefined;
  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it('a relay over its --memory-budget is full and silent on G; within the heap limit alone it answers', async () => {
    const small = await start(['--memory-budget', String(1024 * 1024)]); // 1 MiB: any Node process is over it
    relay = small.relay;
    let text = await relay.registry.metrics();
    expect(metric(text, 'anyturn_load_component{component="memory"}')).toBe(1);
    expect(metric(text, 'anyturn_load_score')).toBe(1);
    const refused = await sendAllocates(small.port, 3);
    try {
      // The responder counts each Allocate it leaves unanswered because the relay is full.
      await waitFor('3 Allocates left silent', async () => metric(await relay!.registry.metrics(), 'anyturn_anycast_answers_total{kind="silent-full"}') === 3 || undefined, 10_000, 20);
      expect(refused.answered()).toBe(0);
    } finally {
      refused.close();
    }
    await relay.close();

    const normal = await start([]);
    relay = normal.relay;
    text = await relay.registry.metrics();
    const memory = metric(text, 'anyturn_load_component{component="memory"}');
    expect(memory).toBeGreaterThanOrEqual(0);
    expect(memory).toBeLessThan(0.5);
    // State held in the heap (this relay runs in the test's process): 100 MB more raises the component.
    const state = new Array<number>(12_500_000).fill(1.5);
    await waitFor('the heap growth sampled', async () => {
      const now = metric(await relay!.registry.metrics(), 'anyturn_load_component{component="memory"}');
      return now - memory > 100e6 / getHeapStatistics().heap_size_limit / 2 || undefined;
    }, 10_000, 50);
    expect(state.length).toBe(12_500_000);
    const served = await sendAllocates(normal.port, 3);
    try {
      await waitFor('3 answers from G', () => served.answered() === 3 || undefined, 10_000, 20);
    } finally {
      served.close();
    }
  });
});
