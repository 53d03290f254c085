import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireTool } from './require-tool.js';

export interface TestCerts {
  readonly dir: string;
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
  /** Removes the directory. */
  dispose(): void;
}

/**
 * A throwaway CA and a server certificate for localhost / 127.0.0.1 / ::1 (or the
 * names `subjectAltName` lists, in openssl's syntax: `IP:127.0.0.1`, with common
 * name `commonName`: Node checks a host name against it when no DNS name is listed), made
 * with the openssl CLI (what users have too), in a fresh temporary directory.
 * openssl is looked up like every external tool; when it is missing the TLS
 * suites fail here naming it (locally too: they test our TLS paths, which a
 * skip would hide, and openssl is in every base image but the slimmest).
 */
export function makeTestCerts(
  subjectAltName = 'DNS:localhost,IP:127.0.0.1,IP:::1',
  commonName = 'localhost',
): TestCerts {
  const openssl = requireTool('openssl', { ci: true });
  const dir = mkdtempSync(join(tmpdir(), 'vproxy-certs-'));
  const p = (name: string) => join(dir, name);
  const run = (...args: string[]) => execFileSync(openssl.path, args, { stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=vproxy test CA',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
  );
  writeFileSync(p('ext.cnf'), `subjectAltName=${subjectAltName}\n`);
  run(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${commonName}`,
    '-keyout',
    p('server.key'),
    '-out',
    p('server.csr'),
  );
  run(
    'x509',
    '-req',
    '-in',
    p('server.csr'),
    '-CA',
    p('ca.pem'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    p('ext.cnf'),
    '-out',
    p('server.pem'),
  );
  return {
    dir,
    caCert: p('ca.pem'),
    cert: p('server.pem'),
    key: p('server.key'),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}
