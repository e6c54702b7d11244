/**
 * The relay's HTTP side (`--metrics IP:PORT`), for operators and load balancers, never for clients:
 *
 *   GET  /metrics   Prometheus text (prom-client registry)
 *   GET  /healthz   200 "ok" while every listener is up and the relay is not draining; 503 "starting",
 *                   "draining" or "stopping" otherwise (a load balancer or the PoP agent takes it out)
 *   GET  /status    JSON: id, pop, allocations, capacity, listeners, uptime, draining (+ what the daemon adds:
 *                   state, load, relayedBytes, connections, cluster store)
 *   GET  /cluster   JSON ClusterView (status-page.ts): PoP summaries, relays, announcements from the store
 *   GET  /          the live page (also /status.html): polls /status and /cluster every second
 *   POST /drain     start draining (when a drain control is wired); POST /undrain ends it
 *   POST /reload    re-read TLS certificate, users, secrets, admin token (when a reload is wired): JSON result
 *
 * The POST endpoints are operator controls: with an admin token they need `Authorization: Bearer <token>`
 * (401 otherwise); without one they are served only when the server is bound to a loopback address (403
 * otherwise), so that a relay whose --metrics is reachable from a network is never controllable by default.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { AnyturnError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { familyOf } from '../turn/five-tuple.js';
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML, type ClusterView } from './status-page.js';

export interface ListenerStatus {
  protocol: 'udp' | 'tcp' | 'tls';
  role: 'unicast' | 'anycast';
  address: string;
  port: number;
}

export interface RelayStatus {
  id: string;
  pop: string;
  allocations: number;
  capacity: number;
  listeners: ListenerStatus[];
  uptimeSeconds: number;
  draining: boolean;
  /** Anything else a part wants to show (load score, connections, ...). */
  [key: string]: unknown;
}

export interface DrainControl {
  drain(): void;
  undrain(): void;
}

export interface HttpServerOptions {
  address: string;
  port: number;
}

export interface HttpServerDeps {
  registry: Registry;
  status: () => RelayStatus;
  log: Logger;
  /** Wired to POST /drain and /undrain; absent = those answer 404. */
  drain?: DrainControl;
  /** The cluster store's view for GET /cluster; absent = 404 (the page then shows this relay only). */
  cluster?: () => ClusterView;
  /** Bearer token the POST endpoints require; absent = they answer only on a loopback address. */
  adminToken?: string;
  /** Wired to POST /reload; absent = 404. Throws (AnyturnError) for a configuration that cannot be applied. */
  reload?: () => unknown;
}

type Health = 'starting' | 'ok' | 'draining' | 'stopping';

/** How long close() lets busy HTTP connections finish before cutting them. */
const CLOSE_GRACE_MS = 2_000;

export class HttpServer {
  readonly #options: HttpServerOptions;
  readonly #deps: HttpServerDeps;
  readonly #log: Logger;
  readonly #server: http.Server;
  #ready = false;
  #adminTokenDigest: Buffer | undefined;
  #draining = false;
  #stopping = false;
  #localPort: number;

  constructor(options: HttpServerOptions, deps: HttpServerDeps) {
    this.#options = options;
    this.#deps = deps;
    this.setAdminToken(deps.adminToken);
    this.#localPort = options.port;
    this.#log = deps.log.child({ component: 'http', address: options.address, port: options.port });
    this.#server = http.createServer((req, res) => {
      // Stopping: answer what is in flight, then let the connection go (a polling page keeps it busy otherwise).
      if (this.#stopping) res.shouldKeepAlive = false;
      this.#handle(req, res).catch((err: unknown) => {
        this.#log.warn({ err }, 'HTTP request failed');
        if (!res.headersSent) send(res, 500, 'text/plain', 'internal error\n');
        else res.destroy();
      });
    });
    this.#server.keepAliveTimeout = 5_000;
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 15_000;
  }

  get localPort(): number {
    return this.#localPort;
  }

  /** The token POST endpoints require from now on (reload); undefined = loopback only. */
  setAdminToken(token: string | undefined): void {
    this.#adminTokenDigest = token === undefined ? undefined : digest(token);
  }

  /** Listeners are up (true) or not yet / not any more (false). */
  setReady(ready: boolean): void {
    this.#ready = ready;
  }

  /** Draining: /healthz answers 503 so the relay is taken out of rotation; existing traffic carries on. */
  setDraining(draining: boolean): void {
    this.#draining = draining;
  }

  get health(): Health {
    if (this.#stopping) return 'stopping';
    if (this.#draining) return 'draining';
    return this.#ready ? 'ok' : 'starting';
  }

  /** Binds; rejects with ATN_ERR_LISTEN_BIND naming the address. */
  listen(): Promise<void> {
    const { address, port } = this.#options;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        const where = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
        reject(new AnyturnError('ATN_ERR_LISTEN_BIND', `cannot bind HTTP ${where}: ${err.code ?? err.message}`, { cause: err }));
      };
      this.#server.once('error', onError);
      this.#server.listen({ host: address, port, ipv6Only: familyOf(address) === 6, exclusive: true }, () => {
        this.#server.off('error', onError);
        this.#server.on('error', (err) => this.#log.warn({ err }, 'HTTP server error'));
        const bound = this.#server.address();
        if (bound !== null && typeof bound === 'object') this.#localPort = bound.port;
        this.#log.info({ localPort: this.#localPort }, 'HTTP server ready');
        resolve();
      });
    });
  }

  /**
   * Idempotent: /healthz turns 503 at once, then the server closes. Idle keep-alive connections close at once,
   * busy ones after their answer; whatever is still open after CLOSE_GRACE_MS is cut.
   */
  close(): Promise<void> {
    this.#stopping = true;
    if (!this.#server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      const cut = setTimeout(() => this.#server.closeAllConnections(), CLOSE_GRACE_MS);
      cut.unref();
      this.#server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
  }

  /** True when the operator control may run; otherwise answers 401 (token missing or wrong) or 403. */
  #authorized(req: IncomingMessage, res: ServerResponse): boolean {
    const expected = this.#adminTokenDigest;
    if (expected === undefined) {
      if (isLoopback(this.#options.address)) return true;
      send(res, 403, 'text/plain; charset=utf-8', 'forbidden: set admin-token to use control endpoints on a non-loopback address\n');
      return false;
    }
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? digest(header.slice('Bearer '.length)) : undefined;
    if (given !== undefined && timingSafeEqual(given, expected)) return true;
    res.setHeader('www-authenticate', 'Bearer realm="anyturn"');
    send(res, 401, 'text/plain; charset=utf-8', 'unauthorized: Authorization: Bearer <admin-token> required\n');
    this.#log.warn({ path: req.url, from: req.socket.remoteAddress }, 'control request refused: bad or missing admin token');
    return false;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    switch (path) {
      case '/metrics': {
        if (!read) return notAllowed(res, 'GET');
        const body = await this.#deps.registry.metrics();
        return send(res, 200, this.#deps.registry.contentType, body, method === 'HEAD');
      }
      case '/healthz': {
        if (!read) return notAllowed(res, 'GET');
        const health = this.health;
        return send(res, health === 'ok' ? 200 : 503, 'text/plain; charset=utf-8', `${health}\n`, method === 'HEAD');
      }
      case '/status': {
        if (!read) return notAllowed(res, 'GET');
        const status = { ...this.#deps.status(), health: this.health };
        return send(res, 200, 'application/json', `${JSON.stringify(status)}\n`, method === 'HEAD');
      }
      case '/':
      case '/status.html': {
        if (!read) return notAllowed(res, 'GET');
        res.setHeader('content-security-policy', STATUS_PAGE_CSP);
        return send(res, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML, method === 'HEAD');
      }
      case '/cluster': {
        const cluster = this.#deps.cluster;
        if (cluster === undefined) return send(res, 404, 'text/plain', 'not found\n');
        if (!read) return notAllowed(res, 'GET');
        return send(res, 200, 'application/json', `${JSON.stringify(cluster())}\n`, method === 'HEAD');
      }
      case '/reload': {
        const reload = this.#deps.reload;
        if (reload === undefined) return send(res, 404, 'text/plain', 'not found\n');
        if (method !== 'POST') return notAllowed(res, 'POST');
        if (!this.#authorized(req, res)) return;
        try {
          const result = reload();
          return send(res, 200, 'application/json', `${JSON.stringify(result)}\n`);
        } catch (err) {
          const text = err instanceof AnyturnError ? `${err.code}: ${err.message}` : (err as Error).message;
          this.#log.warn({ err: text }, 'reload refused; the running configuration stays');
          return send(res, 400, 'text/plain; charset=utf-8', `${text}\n`);
        }
      }
      case '/drain':
      case '/undrain': {
        const drain = this.#deps.drain;
        if (drain === undefined) return send(res, 404, 'text/plain', 'not found\n');
        if (method !== 'POST') return notAllowed(res, 'POST');
        if (!this.#authorized(req, res)) return;
        if (path === '/drain') drain.drain();
        else drain.undrain();
        this.#log.info({ draining: path === '/drain' }, 'drain state set over HTTP');
        return send(res, 200, 'text/plain; charset=utf-8', path === '/drain' ? 'draining\n' : 'ok\n');
      }
      default:
        return send(res, 404, 'text/plain', 'not found\n');
    }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function isLoopback(address: string): boolean {
  return familyOf(address) === 4 ? address.startsWith('127.') : address === '::1';
}

function send(res: ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(headOnly ? undefined : body);
}

function notAllowed(res: ServerResponse, allow: string): void {
  res.setHeader('allow', allow);
  send(res, 405, 'text/plain', 'method not allowed\n');
}
