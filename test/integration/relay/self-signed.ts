/**
 * A throw-away self-signed certificate (openssl req -x509) for TLS tests, in a fresh temp directory.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SelfSigned {
  dir: string;
  certFile: string;
  keyFile: string;
  remove(): void;
}

/** P-256 key, valid one day, CN and subjectAltName = the given IP. */
export function makeSelfSigned(ip = '127.0.0.1'): SelfSigned {
  const dir = mkdtempSync(join(tmpdir(), 'atn-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${ip}`, '-addext', `subjectAltName=IP:${ip}`, '-keyout', keyFile, '-out', certFile,
    ],
    { stdio: 'ignore' },
  );
  return { dir, certFile, keyFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
