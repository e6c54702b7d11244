/**
 * The web server a browser in a lab namespace talks to (not a product daemon):
 *
 *   node dist/test/lab/page-server.js --html FILE [--listen IP]
 *
 * Listens on IP (default 127.0.0.1) at a free port; `GET /` serves FILE, `POST /result` takes the page's JSON
 * result. Reports are JSON lines on stdout: {"event":"ready","port":N}, {"event":"result","body":<the JSON>}
 * (a body that does not parse: {"event":"result","text":...}). Runs until SIGTERM/SIGINT. Lets a test drive a
 * browser without WebDriver: the page runs by itself and posts what it saw.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

const MAX_BODY = 1024 * 1024;

function parseArgs(argv: string[]): { html: string; listen: string } {
  const args = { html: '', listen: '127.0.0.1' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--html') args.html = value;
    else if (flag === '--listen') args.listen = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (args.html === '') throw new Error('--html FILE is required');
  return args;
}

function report(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const page = readFileSync(args.html);
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(page);
      return;
    }
    if (req.method === 'POST' && req.url === '/result') {
      readBody(req).then((text) => {
        try {
          report({ event: 'result', body: JSON.parse(text) as unknown });
        } catch {
          report({ event: 'result', text });
        }
        res.writeHead(204).end();
      }, () => res.writeHead(400).end());
      return;
    }
    res.writeHead(404).end();
  });
  server.listen(0, args.listen, () => report({ event: 'ready', port: (server.address() as AddressInfo).port }));
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

try {
  main();
} catch (err) {
  process.stderr.write(`page-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
