import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import {
  controllerArgs,
  HTTP_TOKEN,
  type RunningCli,
  redisCli,
  startCli,
  VPROXY_BIN,
} from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';

// Issue 14, "errors that hide their cause": each observed answer, asked again
// through the real clients. Before: `ERR internal error` / HTTP 500 for a used
// port, a foo:// server accepted and silently DOWN, an address error said twice,
// a relative cert path resolved without a word, `vproxy bogus` "too many arguments".

const run = promisify(execFile);
const redisCliTool = requireTool('redis-cli');
const note = skipNote(redisCliTool);

let dir: string;
let daemon: RunningCli;
let ports: { resp: number; http: number };
let squatter: Server;
let usedPort: number;
let certs: TestCerts;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-errors-'));
  certs = makeTestCerts();
  squatter = createServer();
  squatter.listen(0, '127.0.0.1');
  await once(squatter, 'listening');
  usedPort = (squatter.address() as { port: number }).port;
  ports = { resp: await closedPort(), http: await closedPort() };
  if (redisCliTool.missing) return;
  // The daemon runs in the certs' parent directory, so a relative path means something.
  ({ running: daemon } = await startCli(
    ['--no-stdio', '--no-load-last', '--no-save', '--config-dir', dir, ...controllerArgs(ports)],
    /started; /,
    { cwd: certs.dir },
  ));
  await redisCli(ports.resp, 'add upstream ups0');
  await redisCli(ports.resp, 'add server-group sg0 timeout 500 period 60000 up 1 down 2');
});

afterAll(async () => {
  await daemon?.stop();
  squatter.close();
  certs.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(redisCliTool.missing)(`daemon errors name their cause${note}`, () => {
  it('a port in use: RESP says so, REST answers 409 with the same message', async () => {
    const resp = await redisCli(
      ports.resp,
      `add tcp-lb x address 127.0.0.1:${usedPort} upstream ups0`,
    );
    expect(resp).toEqual([`ERR address 127.0.0.1:${usedPort} is in use`]);
    const res = await fetch(`http://127.0.0.1:${ports.http}/api/v1/module/tcp-lb`, {
      method: 'POST',
      headers: { authorization: `Bearer ${HTTP_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'y', address: `127.0.0.1:${usedPort}`, upstream: 'ups0' }),
    });
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({
      code: 'ERR_ADDRESS_IN_USE',
      message: `address 127.0.0.1:${usedPort} is in use`,
    });
    // Nothing half-made is left behind.
    expect(await redisCli(ports.resp, 'list tcp-lb')).toEqual([]);
  });

  it('a server address with an unknown scheme or option is refused when added', async () => {
    const scheme = await redisCli(
      ports.resp,
      'add server s1 to server-group sg0 address foo://10.0.0.1:80',
    );
    expect(scheme[0]).toMatch(/^ERR unknown scheme "foo"/);
    const option = await redisCli(
      ports.resp,
      'add server s1 to server-group sg0 address tcp://10.0.0.1:80?nope=1',
    );
    expect(option[0]).toMatch(/^ERR unknown option "nope"/);
    expect(await redisCli(ports.resp, 'list server in server-group sg0')).toEqual([]);
  });

  it('an address error is said once', async () => {
    const [answer] = await redisCli(ports.resp, 'add tcp-lb z address 127.0.0.1 upstream ups0');
    expect(answer).toBe('ERR invalid address 127.0.0.1: missing port (expected "host:port")');
  });

  it('list bytes-in in server s0 (the form man shows) answers', async () => {
    await redisCli(ports.resp, 'add server s0 to server-group sg0 address 127.0.0.1:1');
    expect(await redisCli(ports.resp, 'man bytes-in')).toContain(
      '  list bytes-in in server <name> in server-group <name>',
    );
    expect(await redisCli(ports.resp, 'list bytes-in in server s0 in server-group sg0')).toEqual([
      '0',
    ]);
    expect(await redisCli(ports.resp, 'list bytes-in in server s0')).toEqual(['0']);
  });

  it('a relative cert-key path is resolved against the daemon directory, and the answer says so', async () => {
    const answer = await redisCli(ports.resp, 'add cert-key ck0 cert server.pem key server.key');
    expect(answer.join('\n')).toBe(
      `cert-key ck0: relative paths resolved against the daemon's directory ${certs.dir}:` +
        ` cert ${join(certs.dir, 'server.pem')} key ${join(certs.dir, 'server.key')}`,
    );
    expect(await redisCli(ports.resp, 'list-detail cert-key')).toEqual([
      `ck0 -> cert ${join(certs.dir, 'server.pem')} key ${join(certs.dir, 'server.key')}`,
    ]);
  });
});

describe('the CLI', () => {
  it('vproxy bogus names the unknown command', async () => {
    const err = await run(process.execPath, [VPROXY_BIN, 'bogus']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/^error: unknown command 'bogus'/);
    expect(err?.stderr).not.toMatch(/too many arguments/);
  });

  it('a bad --log-level is refused before anything starts', async () => {
    const err = await run(process.execPath, [VPROXY_BIN, '--log-level', 'loud', '--no-stdio']).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(1);
    expect(err?.stderr).toMatch(/invalid log level "loud": one of off, error, warn, info, debug/);
  });
});
