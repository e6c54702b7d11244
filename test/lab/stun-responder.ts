/**
 * A stand-in relay for the lab and the agent tests (not a product daemon):
 *
 *   node dist/test/lab/stun-responder.js --name R [--udp IP:PORT ...] [--tcp IP:PORT ...]
 *
 * UDP: answers a STUN Binding request with a Binding success (XOR-MAPPED-ADDRESS), and
 * reports every datagram. TCP: writes `R\n` to each connection and reports it. Reports
 * are JSON lines on stdout: {"event":"ready"}, {"event":"udp","local":..,"from":..,"bytes":..,
 * "text":..}, {"event":"tcp","local":..,"from":..}. Runs until SIGTERM/SIGINT.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { parseHostPort } from '../../src/config/fields.js';
import { Attr, decodeStun, isStunMessage, Method, StunClass, StunWriter } from '../../src/stun/index.js';

interface Args {
  name: string;
  udp: { address: string; port: number }[];
  tcp: { address: string; port: number }[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { name: 'responder', udp: [], tcp: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--name') args.name = value;
    else if (flag === '--udp' || flag === '--tcp') {
      const hp = parseHostPort(value);
      if (!hp) throw new Error(`${flag}: bad IP:PORT '${value}'`);
      args[flag === '--udp' ? 'udp' : 'tcp'].push(hp);
    } else throw new Error(`unknown flag ${flag}`);
  }
  return args;
}

function report(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const writer = new StunWriter();
  const closers: (() => void)[] = [];

  await Promise.all(args.udp.map((at) => new Promise<void>((resolve, reject) => {
    const socket = createSocket(at.address.includes(':') ? 'udp6' : 'udp4');
    const local = `${at.address}:${at.port}`;
    socket.on('message', (msg, rinfo) => {
      const from = `${rinfo.address}:${rinfo.port}`;
      report({ event: 'udp', name: args.name, local, from, bytes: msg.length, text: msg.subarray(0, 64).toString('latin1') });
      const m = decodeStun(msg);
      if (isStunMessage(m) && m.method === Method.Binding && m.cls === StunClass.Request) {
        const family = rinfo.family === 'IPv6' ? 6 : 4;
        const reply = writer
          .reset(Method.Binding, StunClass.SuccessResponse, m.transactionId)
          .addXorAddress(Attr.XOR_MAPPED_ADDRESS, { family, address: rinfo.address, port: rinfo.port })
          .view();
        socket.send(reply, rinfo.port, rinfo.address);
      }
    });
    socket.once('error', reject);
    socket.bind(at.port, at.address, () => resolve());
    closers.push(() => socket.close());
  })));

  await Promise.all(args.tcp.map((at) => new Promise<void>((resolve, reject) => {
    const local = `${at.address}:${at.port}`;
    const server = createServer((conn) => {
      report({ event: 'tcp', name: args.name, local, from: `${conn.remoteAddress}:${conn.remotePort}` });
      conn.on('error', () => conn.destroy());
      conn.end(`${args.name}\n`);
    });
    server.once('error', reject);
    server.listen(at.port, at.address, () => resolve());
    closers.push(() => server.close());
  })));

  report({ event: 'ready', name: args.name });
  const stop = () => {
    for (const close of closers) close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`stun-responder: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
