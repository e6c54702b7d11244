/**
 * TLS listener (RFC 8656 §3.1, "turns:"): TURN over TLS-over-TCP on address:tlsPort with the operator's
 * certificate chain and key (PEM files, read once at start-up). Connections become StreamConnections after the
 * handshake; handshakes that fail or take longer than `handshakeTimeoutMs` are counted and dropped.
 */
import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import tls from 'node:tls';
import { AnyturnError } from '../../src/errors.js';
import { StreamListener, type StreamListenerDeps, type StreamListenerOptions } from './stream-listener.js';

export interface TlsListenerOptions extends StreamListenerOptions {
  /** PEM certificate chain file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /** Default 10 s. */
  handshakeTimeoutMs?: number;
}

export class TlsListener extends StreamListener {
  readonly #cert: Buffer;
  readonly #key: Buffer;
  readonly #handshakeTimeoutMs: number;

  /**
   * Reads the certificate and key; throws ATN_ERR_CONFIG_FILE naming a file that cannot be read and
   * ATN_ERR_CONFIG_INVALID when they do not make a TLS context (bad PEM, key not matching the certificate).
   */
  constructor(options: TlsListenerOptions, deps: StreamListenerDeps) {
    super('tls', options, deps);
    this.#cert = readPem(options.certFile, 'tls-cert');
    this.#key = readPem(options.keyFile, 'tls-key');
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    try {
      tls.createSecureContext({ cert: this.#cert, key: this.#key });
    } catch (err) {
      throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `tls-cert/tls-key: ${(err as Error).message}`, { cause: err });
    }
  }

  protected createServer(onSocket: (socket: Socket) => void): Server {
    const server = tls.createServer({
      cert: this.#cert,
      key: this.#key,
      handshakeTimeout: this.#handshakeTimeoutMs,
      minVersion: 'TLSv1.2',
    });
    server.on('secureConnection', onSocket);
    server.on('tlsClientError', (err) => {
      this.deps.streamMetrics.tlsHandshakeFailed();
      this.log.debug({ err }, 'TLS handshake failed');
    });
    return server;
  }
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new AnyturnError('ATN_ERR_CONFIG_FILE', `${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
    });
  }
}
