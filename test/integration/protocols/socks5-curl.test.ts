import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isVproxyError } from '../../../src/fd/errors.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { closedPort } from '../../helpers/net.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { type Socks5Harness, startSocks5Harness } from './socks5-harness.js';

// Found as a shell would; missing fails in CI, skips visibly elsewhere.
const curlTool = requireTool('curl');
const missing = curlTool.missing;
const note = skipNote(curlTool);

// Real curl through our socks5 handshake (run by a tiny harness that connects
// with the registry and splices with pump), to real HTTP servers on loopback.

const registry = createDefaultRegistry();
const BODY = randomBytes(1024 * 1024 + 17);
const BODY_SHA = sha256(BODY);
let baseline: string[];
let http4: Server;
let http6: Server;
let port4: number;
let port6: number;
let open: Socks5Harness;
let authed: Socks5Harness;
let refusedPort: number;

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

async function startHttp(host: string): Promise<[Server, number]> {
  const server = createServer((req, res) => {
    if (req.url === '/blob') {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': BODY.length,
      });
      res.end(BODY);
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, host);
  await once(server, 'listening');
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return [server, addr.port];
}

interface CurlResult {
  readonly code: number;
  readonly body: Buffer;
  readonly stderr: string;
}

function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(
      curlTool.path,
      ['--silent', '--show-error', '--max-time', '10', '--noproxy', '', ...args],
      { encoding: 'buffer', maxBuffer: 8 * 1024 * 1024, timeout: 15_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code as number) : 0;
        resolve({
          code: typeof code === 'number' ? code : -1,
          body: stdout,
          stderr: stderr.toString(),
        });
      },
    );
  });
}

beforeAll(async () => {
  baseline = snapshotSockets();
  [http4, port4] = await startHttp('127.0.0.1');
  [http6, port6] = await startHttp('::1');
  refusedPort = await closedPort();
  open = await startSocks5Harness(registry, 'tcp://127.0.0.1:0', {
    deny: (r) => r.host === 'denied.invalid' || r.port === 9,
  });
  authed = await startSocks5Harness(registry, 'tcp://127.0.0.1:0', {
    auth: { users: new Map([['alice', 'correct horse']]) },
  });
});

afterAll(async () => {
  await open.close();
  await authed.close();
  http4.closeAllConnections();
  http6.closeAllConnections();
  await new Promise<void>((r) => http4.close(() => r()));
  await new Promise<void>((r) => http6.close(() => r()));
  await expectNoLeakedSockets(baseline);
});

describe.skipIf(missing)(`curl --socks5 / --socks5-hostname through our handshake${note}`, () => {
  it('IPv4 target (ATYP 01), 1 MB byte-exact', async () => {
    const before = open.requests.length;
    const r = await curl(['--socks5', `127.0.0.1:${open.port}`, `http://127.0.0.1:${port4}/blob`]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha256(r.body)).toBe(BODY_SHA);
    expect(open.requests.slice(before)).toEqual([
      { command: 'connect', host: '127.0.0.1', port: port4, addressType: 'ipv4' },
    ]);
  });

  it('domain target resolved by the server (ATYP 03 "localhost")', async () => {
    const before = open.requests.length;
    const r = await curl([
      '--socks5-hostname',
      `127.0.0.1:${open.port}`,
      `http://localhost:${port4}/blob`,
    ]);
    expect(r.code).toBe(0);
    expect(sha256(r.body)).toBe(BODY_SHA);
    expect(open.requests.slice(before)).toEqual([
      { command: 'connect', host: 'localhost', port: port4, addressType: 'domain' },
    ]);
  });

  it('IPv6 target [::1] (ATYP 04), with both curl modes', async () => {
    for (const mode of ['--socks5', '--socks5-hostname']) {
      const before = open.requests.length;
      const r = await curl([mode, `127.0.0.1:${open.port}`, `http://[::1]:${port6}/blob`]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(sha256(r.body)).toBe(BODY_SHA);
      expect(open.requests.slice(before)).toEqual([
        { command: 'connect', host: '::1', port: port6, addressType: 'ipv6' },
      ]);
    }
  });

  it('a denied target gets reply 0x02 and a closed connection', async () => {
    const before = open.requests.length;
    const r = await curl([
      '--socks5-hostname',
      `127.0.0.1:${open.port}`,
      'http://denied.invalid:80/',
    ]);
    expect(r.code).toBe(97); // CURLE_PROXY
    expect(r.stderr).toMatch(/Can't complete SOCKS5 connection to denied\.invalid\. \(2\)/);
    expect(open.requests.slice(before)).toMatchObject([{ host: 'denied.invalid', port: 80 }]);
    const r2 = await curl(['--socks5', `127.0.0.1:${open.port}`, 'http://127.0.0.1:9/']);
    expect(r2.code).toBe(97);
  });

  it('a refused target gets reply 0x05 (connection refused)', async () => {
    const r = await curl([
      '--socks5',
      `127.0.0.1:${open.port}`,
      `http://127.0.0.1:${refusedPort}/`,
    ]);
    expect(r.code).toBe(97);
    expect(r.stderr).toMatch(/Can't complete SOCKS5 connection to 127\.0\.0\.1\. \(5\)/);
  });

  it('an unresolvable domain gets reply 0x04 (host unreachable)', async () => {
    const r = await curl([
      '--socks5-hostname',
      `127.0.0.1:${open.port}`,
      'http://no-such-host.invalid/',
    ]);
    expect(r.code).toBe(97);
    expect(r.stderr).toMatch(/no-such-host\.invalid\. \(4\)/);
  });
});

const RFC1929_TITLE = 'curl --proxy-user against username/password authentication (RFC 1929)';
describe.skipIf(missing)(`${RFC1929_TITLE}${note}`, () => {
  it('the right password gets through and the user is known', async () => {
    const before = authed.users.length;
    const r = await curl([
      '--socks5-hostname',
      `127.0.0.1:${authed.port}`,
      '--proxy-user',
      'alice:correct horse',
      `http://localhost:${port4}/blob`,
    ]);
    expect(r.code).toBe(0);
    expect(sha256(r.body)).toBe(BODY_SHA);
    expect(authed.users.slice(before)).toEqual(['alice']);
  });

  it("a wrong password fails with curl's auth error, and the server closed the connection", async () => {
    const before = authed.rejections.length;
    const r = await curl([
      '--socks5',
      `127.0.0.1:${authed.port}`,
      '--proxy-user',
      'alice:battery staple',
      `http://127.0.0.1:${port4}/blob`,
    ]);
    expect(r.code).toBe(97);
    expect(r.stderr).toMatch(/User was rejected by the SOCKS5 server \(1 1\)/);
    await authed.settled();
    const errors = authed.rejections.slice(before);
    expect(errors).toHaveLength(1);
    expect(isVproxyError(errors[0], 'ERR_SOCKS5_AUTH_FAILED')).toBe(true);
    expect(errors[0]?.message).toContain('"alice"');
  });

  it('no credentials at all: no acceptable method', async () => {
    const before = authed.rejections.length;
    const r = await curl([
      '--socks5',
      `127.0.0.1:${authed.port}`,
      `http://127.0.0.1:${port4}/blob`,
    ]);
    expect(r.code).toBe(97);
    expect(r.stderr).toMatch(/No authentication method was acceptable/);
    await authed.settled();
    expect(isVproxyError(authed.rejections[before], 'ERR_SOCKS5_NO_ACCEPTABLE_METHOD')).toBe(true);
  });
});
