import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';

// socks5 users through a running daemon, with real clients: redis-cli and the
// REST API manage them, curl authenticates (or is refused) through the socks5
// server, and a save / restart with --load keeps them.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const redisCliTool = requireTool('redis-cli');
/** Suites below skip (locally) or have failed at import (CI) without these tools. */
const missing = anyMissing(curlTool, redisCliTool);
const note = skipNote(curlTool, redisCliTool);
const SECRET = 'Zq9-s3cret';
let backend: Server;
let backendPort: number;
let dir: string;
const daemons: RunningCli[] = [];
const ports = { s5: 0, resp: 0, http: 0 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-s5u-e2e-'));
  backend = createServer((_req, res) => res.end('hello through socks5\n'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const a = backend.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  backendPort = a.port;
  ports.s5 = await closedPort();
  ports.resp = await closedPort();
  ports.http = await closedPort();
});

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function startDaemon(extra: string[]): Promise<RunningCli> {
  const { running } = await startCli(
    [
      '--config-dir',
      join(dir, 'home'),
      '--no-stdio',
      '--allow-remote-file-commands',
      ...controllerArgs(ports),
      ...extra,
    ],
    /started; type/,
  );
  daemons.push(running);
  return running;
}

async function rest(method: string, path: string, body?: unknown): Promise<string> {
  const args = ['-sS', '-X', method, '-H', 'Authorization: Bearer tok'];
  if (body !== undefined)
    args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
  const { stdout } = await run(curlTool.path, [...args, `http://127.0.0.1:${ports.http}${path}`]);
  return stdout;
}

interface CurlOutcome {
  /** curl's exit code; a spawn failure (ENOENT) or a signal is not a number and fails every match. */
  readonly code: number | string | null;
  readonly body: string;
  /** curl's error line (stderr), '' on success. */
  readonly why: string;
}

/** curl through the socks5 server: its exit code, body and error line. */
async function viaSocks(credentials?: string): Promise<CurlOutcome> {
  const proxy = `${credentials ? `${credentials}@` : ''}127.0.0.1:${ports.s5}`;
  try {
    const { stdout } = await run(curlTool.path, [
      '-sS',
      '--max-time',
      '3',
      '--socks5-hostname',
      proxy,
      `http://127.0.0.1:${backendPort}/`,
    ]);
    return { code: 0, body: stdout, why: '' };
  } catch (err) {
    const e = err as { code?: number | string; signal?: string; stderr?: string };
    return { code: e.code ?? e.signal ?? null, body: '', why: (e.stderr ?? '').trim() };
  }
}

const OK: CurlOutcome = { code: 0, body: 'hello through socks5\n', why: '' };
// curl's exact outcomes (CURLE_PROXY = 97, with SOCKS5's own reason): a wrong
// or unknown user is refused by RFC 1929 status 1; no credentials offered while
// the server requires them is "no acceptable method" (0xFF).
const REJECTED = {
  code: 97,
  body: '',
  why: expect.stringMatching(/User was rejected by the SOCKS5 server \(1 1\)/),
};
const NO_METHOD = {
  code: 97,
  body: '',
  why: expect.stringMatching(/No authentication method was acceptable/),
};

async function untilUp(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [line] = await redisCli(ports.resp, 'list-detail server in server-group sg0');
    if (line?.endsWith('currently UP')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server never came UP');
}

describe.skipIf(missing)(`socks5 users in a running daemon${note}`, () => {
  const saved = () => join(dir, 'saved.conf');

  it('redis-cli and REST manage users; curl authenticates with them', async () => {
    const d = await startDaemon(['--no-load-last', '--no-save']);
    for (const line of [
      'add server-group sg0 timeout 3000 period 200 up 1 down 2',
      `add server s0 to server-group sg0 address 127.0.0.1:${backendPort}`,
      'add upstream ups0',
      'add server-group sg0 to upstream ups0 weight 10',
      `add socks5-server s5 address 127.0.0.1:${ports.s5} upstream ups0`,
    ]) {
      expect(await redisCli(ports.resp, line)).toEqual(['OK']);
    }
    await untilUp();
    expect(await viaSocks()).toEqual(OK);

    expect(
      await redisCli(ports.resp, `add socks5-user alice to socks5-server s5 password ${SECRET}`),
    ).toEqual(['OK']);
    expect(await viaSocks(`alice:${SECRET}`)).toEqual(OK);
    expect(await viaSocks('alice:wrong')).toEqual(REJECTED);
    expect(await viaSocks()).toEqual(NO_METHOD);
    expect(
      await redisCli(ports.resp, 'add socks5-user alice to socks5-server s5 password x'),
    ).toEqual(['ERR socks5-server s5 already has a socks5-user named alice']);

    expect(
      await redisCli(ports.resp, 'update socks5-user alice in socks5-server s5 password n3w-Zq9'),
    ).toEqual(['OK']);
    expect(await viaSocks(`alice:${SECRET}`)).toEqual(REJECTED);
    expect(await viaSocks('alice:n3w-Zq9')).toEqual(OK);

    // REST: a second user, written and answered without its password.
    expect(
      JSON.parse(
        await rest('POST', '/api/v1/module/socks5-server/s5/socks5-user', {
          name: 'bob',
          password: 'b0b-Zq9',
        }),
      ),
    ).toEqual({ ok: true });
    expect(await viaSocks('bob:b0b-Zq9')).toEqual(OK);
    expect(
      await rest('PUT', '/api/v1/module/socks5-server/s5/socks5-user/bob', {
        password: 'b0b2-Zq9',
      }),
    ).toBe('');
    expect(await viaSocks('bob:b0b2-Zq9')).toEqual(OK);
    const listed = await rest('GET', '/api/v1/module/socks5-server/s5/socks5-user');
    expect(JSON.parse(listed)).toEqual({ items: [{ name: 'alice' }, { name: 'bob' }] });
    const one = await rest('GET', '/api/v1/module/socks5-server/s5/socks5-user/bob');
    expect(JSON.parse(one)).toEqual({ item: { name: 'bob' } });
    expect(
      JSON.parse(await rest('GET', '/api/v1/module/socks5-server/s5/socks5-user/carol')),
    ).toMatchObject({ code: 'ERR_NOT_FOUND' });

    // No answer to a network client shows a password (list config masks it; saved files hold it).
    const shown = [
      ...(await redisCli(ports.resp, 'list-detail socks5-user in socks5-server s5')),
      ...(await redisCli(ports.resp, 'list-detail socks5-server')),
      ...(await redisCli(
        ports.resp,
        `update socks5-user alice in socks5-server s5 password ${'Zq9'.repeat(90)}`,
      )),
      listed,
      one,
      await rest('POST', '/api/v1/command', {
        command: 'list-detail socks5-user in socks5-server s5',
      }),
      await rest('GET', '/api/v1/status'),
      await rest('GET', '/metrics'),
      await rest('GET', '/status'),
    ].join('\n');
    expect(shown).toContain('alice');
    expect(shown).not.toContain('Zq9');
    expect(
      (await redisCli(ports.resp, 'list config')).filter((l) => l.includes('socks5-user')),
    ).toEqual([
      'add socks5-user alice to socks5-server s5 password ******',
      'add socks5-user bob to socks5-server s5 password ******',
    ]);

    expect(await rest('DELETE', '/api/v1/module/socks5-server/s5/socks5-user/bob')).toBe('');
    expect(await viaSocks('bob:b0b2-Zq9')).toEqual(REJECTED);
    expect(await redisCli(ports.resp, 'remove socks5-user alice from socks5-server s5')).toEqual([
      'OK',
    ]);
    expect(await viaSocks()).toEqual(OK);

    expect(
      await redisCli(ports.resp, `add socks5-user alice to socks5-server s5 password ${SECRET}`),
    ).toEqual(['OK']);
    expect(await redisCli(ports.resp, `save ${saved()}`)).toEqual(['OK']);
    expect(statSync(saved()).mode & 0o777).toBe(0o600);
    expect(readFileSync(saved(), 'utf8')).toContain(
      `add socks5-user alice to socks5-server s5 password ${SECRET}\n`,
    );
    expect(d.output()).not.toContain('Zq9');
    expect(await d.stop()).toBe(0);
  });

  it('a restart with --load keeps the user', async () => {
    const d = await startDaemon(['--no-save', '--load', saved()]);
    expect(await redisCli(ports.resp, 'list socks5-user in socks5-server s5')).toEqual(['alice']);
    await untilUp();
    expect(await viaSocks(`alice:${SECRET}`)).toEqual(OK);
    expect(await viaSocks()).toEqual(NO_METHOD);
    expect(await viaSocks('alice:wrong')).toEqual(REJECTED);
    expect(d.output()).not.toContain('Zq9');
    expect(await d.stop()).toBe(0);
  });
});
