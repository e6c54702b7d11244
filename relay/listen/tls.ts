/**
 * TLS listener (RFC 8656 §3.1, "turns:"): TURN over TLS-over-TCP on address:tlsPort with the operator's
 * certificate chain and key (PEM files, read at start-up and again by reloadCertificate on SIGHUP / POST /reload:
 * new handshakes get the new certificate, established connections keep theirs). Connections become StreamConnections after the
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
  #cert: Buffer;
  #key: Buffer;
  #server: tls.Server | undefined;
  readonly #handshakeTimeoutMs: number;

  /**
   * Reads the certificate and key; throws ATN_ERR_CONFIG_FILE naming a file that cannot be read and
   * ATN_ERR_CONFIG_INVALID when they do not make a TLS context (bad PEM, key not matching the certificate).
   */
  constructor(options: TlsListenerOptions, deps: StreamListenerDeps) {
    super('tls', options, deps);
    ({ cert: this.#cert, key: this.#key } = readKeyPair(options.certFile, options.keyFile));
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
  }

  /**
   * Reads the certificate and key again (renewed files); throws like the constructor and keeps the current pair
   * when the new one is unusable. Established connections are untouched.
   */
  reloadCertificate(certFile: string, keyFile: string): void {
    const pair = readKeyPair(certFile, keyFile);
    this.#server?.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
    this.#cert = pair.cert;
    this.#key = pair.key;
  }

  protected createServer(onSocket: (socket: Socket) => void): Server {
    const server = tls.createServer({
      cert: this.#cert,
      key: this.#key,
      handshakeTimeout: this.#handshakeTimeoutMs,
      minVersion: 'TLSv1.2',
    });
    this.#server = server;
    server.on('secureConnection', onSocket);
    server.on('tlsClientError', (err) => {
      this.deps.streamMetrics.tlsHandshakeFailed();
      this.log.debug({ err }, 'TLS handshake failed');
    });
    return server;
  }
}

function readKeyPair(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const cert = readPem(certFile, 'tls-cert');
  const key = readPem(keyFile, 'tls-key');
  try {
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', `tls-cert/tls-key: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key };
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
