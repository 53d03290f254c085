import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { startCli, VPROXY_BIN } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';

// `vproxy simple` driven as users do: the built binary, real curl, real HTTP backends.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const backends: Server[] = [];
const ports: number[] = [];
let certs: TestCerts;

beforeAll(async () => {
  certs = makeTestCerts();
  for (const name of ['one', 'two']) {
    const server = createServer((_req, res) => res.end(`${name}\n`));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    backends.push(server);
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    ports.push(address.port);
  }
});

afterAll(async () => {
  for (const s of backends) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  certs.dispose();
});

function lineCount(file: string): number {
  try {
    return readFileSync(file, 'utf8').split('\n').length - 1;
  } catch {
    return 0;
  }
}

async function curl(...args: string[]): Promise<string> {
  const { stdout } = await run(curlTool.path, ['-sS', '--max-time', '5', ...args]);
  return stdout;
}

describe.skipIf(curlTool.missing)(`vproxy simple${skipNote(curlTool)}`, () => {
  it('round-robins curl requests over two backends', async () => {
    const { running, match } = await startCli(
      [
        'simple',
        '--bind',
        '127.0.0.1:0',
        '--backend',
        ports.map((p) => `127.0.0.1:${p}`).join(','),
      ],
      /listening on tcp:\/\/127\.0\.0\.1:(\d+)/,
    );
    const url = `http://127.0.0.1:${match[1]}/`;
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push((await curl(url)).trim());
    expect(answers).toEqual(['one', 'two', 'one', 'two']);
    expect(await running.stop()).toBe(0);
    expect(running.output()).toMatch(/stopped after 4 connections/);
  });

  it('loads an old option spelling (ws-mode) and says it is deprecated in its log', async () => {
    const { running } = await startCli(
      // A client-side option: the backend's. Nothing dials it; the address is parsed at start.
      ['simple', '--bind', '127.0.0.1:0', '--backend', `ws://127.0.0.1:${ports[0]}/?ws-mode=raw`],
      /listening on/,
    );
    expect(await running.stop()).toBe(0);
    expect(running.output()).toMatch(/option-deprecated.*ws-mode.*ws\.mode/);
  });

  it('names the path a ws listener serves in its listening line', async () => {
    const { running, match } = await startCli(
      ['simple', '--bind', 'ws://127.0.0.1:0/tunnel', '--backend', `127.0.0.1:${ports[0]}`],
      /listening on (ws:\/\/127\.0\.0\.1:\d+\S*)/,
    );
    expect(match[1]).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/tunnel$/);
    expect(await running.stop()).toBe(0);
  });

  it('terminates TLS for curl with --cacert', async () => {
    const bind = `tls://127.0.0.1:0?cert=${certs.cert}&cert-key=${certs.key}`;
    const { running, match } = await startCli(
      ['simple', '--bind', bind, '--backend', `127.0.0.1:${ports[0]}`],
      /listening on tls:\/\/127\.0\.0\.1:(\d+)/,
    );
    const body = await curl('--cacert', certs.caCert, `https://localhost:${match[1]}/`);
    expect(body).toBe('one\n');
    expect(await running.stop()).toBe(0);
  });

  it('rejects a bad address with a precise message and exit code 1', async () => {
    const result = await run(process.execPath, [
      VPROXY_BIN,
      'simple',
      '--bind',
      '127.0.0.1:99999',
      '--backend',
      '127.0.0.1:1',
    ]).catch((err: { code: number; stderr: string }) => err);
    expect(result).toMatchObject({ code: 1 });
    expect((result as { stderr: string }).stderr).toMatch(
      /invalid address "127\.0\.0\.1:99999": port 99999 is out of range 0-65535 \[ERR_ADDRESS_INVALID\]/,
    );
  });

  it('names an unknown scheme', async () => {
    const result = await run(process.execPath, [
      VPROXY_BIN,
      'simple',
      '--bind',
      'quic://127.0.0.1:0',
      '--backend',
      '127.0.0.1:1',
    ]).catch((err: { code: number; stderr: string }) => err);
    expect(result).toMatchObject({ code: 1 });
    expect((result as { stderr: string }).stderr).toMatch(/no stream transport "quic"/);
  });

  it('names an unknown backend scheme, not the port it could not read', async () => {
    const result = await run(process.execPath, [
      VPROXY_BIN,
      'simple',
      '--bind',
      '127.0.0.1:0',
      '--backend',
      'foo://x',
    ]).catch((err: { code: number; stderr: string }) => err);
    expect(result).toMatchObject({ code: 1 });
    const { stderr } = result as { stderr: string };
    expect(stderr).toMatch(/unknown scheme "foo"/);
    expect(stderr).not.toMatch(/\bport\b/);
  });

  it('one dead backend of two: 0 failed requests out of 1,000, and the log says why', async () => {
    const dead = await closedPort();
    const { running, match } = await startCli(
      [
        'simple',
        '--bind',
        '127.0.0.1:0',
        '--backend',
        `127.0.0.1:${dead},127.0.0.1:${ports[0]}`,
        '--log-format',
        'json',
        '--access-log',
      ],
      /listening on tcp:\/\/127\.0\.0\.1:(\d+)/,
    );
    const url = `http://127.0.0.1:${match[1]}/`;
    let failed = 0;
    let ok = 0;
    // Plain HTTP requests on fresh connections, 20 at a time (curl per request would take minutes).
    for (let batch = 0; batch < 50; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(url, { headers: { connection: 'close' } })
            .then((r) => r.text())
            .catch(() => 'failed'),
        ),
      );
      for (const a of answers) {
        if (a === 'one\n') ok++;
        else failed++;
      }
    }
    expect({ ok, failed }).toEqual({ ok: 1000, failed: 0 });
    // Let the last sessions end on their own before the stop (which would kill them).
    const deadline = Date.now() + 5000;
    while (
      Date.now() < deadline &&
      (running.output().match(/"event":"session"/g)?.length ?? 0) < 1000
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await running.stop()).toBe(0);
    const lines = running
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'));
    // Every log line is one JSON object.
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const failure = records.find((r) => r.event === 'backend-connect-failed');
    expect(failure).toMatchObject({
      level: 'warn',
      backend: `tcp://127.0.0.1:${dead}`,
      code: 'ECONNREFUSED',
      redispatchTo: `tcp://127.0.0.1:${ports[0]}`,
    });
    const sessions = records.filter((r) => r.event === 'session');
    expect(sessions).toHaveLength(1000);
    expect(sessions.filter((r) => r.redispatches === 1).length).toBeGreaterThan(0);
    expect(
      sessions.every((r) => r.reason === 'closed' && r.backend === `tcp://127.0.0.1:${ports[0]}`),
    ).toBe(true);
  });

  it('with --health-check tcp a dead backend is skipped and named at start', async () => {
    const dead = await closedPort();
    const dir = mkdtempSync(join(tmpdir(), 'vproxy-simple-'));
    const accessFile = join(dir, 'access.log');
    const { running, match } = await startCli(
      [
        'simple',
        '--bind',
        '127.0.0.1:0',
        '--backend',
        `127.0.0.1:${dead},127.0.0.1:${ports[1]}`,
        '--health-check',
        'tcp',
        '--health-period',
        '200',
        '--retries',
        '0',
        '--access-log',
        accessFile,
      ],
      /listening on tcp:\/\/127\.0\.0\.1:(\d+)/,
    );
    const url = `http://127.0.0.1:${match[1]}/`;
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push((await curl(url)).trim());
    expect(answers).toEqual(Array(6).fill('two'));
    // curl is gone before the proxy has closed the backend side: let the sessions
    // end on their own (a stop now would kill the last one, reason=killed).
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && lineCount(accessFile) < 6) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await running.stop()).toBe(0);
    // Text lines by default; the dead backend never came up, the live one did.
    expect(running.output()).toMatch(/INFO {2}server-up group=simple server=backend-2 /);
    expect(running.output()).toMatch(
      new RegExp(`WARN  backends-down-at-start backends=tcp://127\\.0\\.0\\.1:${dead}`),
    );
    expect(running.output()).not.toMatch(/backend-connect-failed/);
    // The access log went to the file, one text line per request, not to stderr.
    const access = readFileSync(accessFile, 'utf8').trim().split('\n');
    expect(access).toHaveLength(6);
    const shape = new RegExp(
      `INFO  session listener=tcp://127\\.0\\.0\\.1:${match[1]} id=\\d+ client=127\\.0\\.0\\.1:\\d+ backend=tcp://127\\.0\\.0\\.1:${ports[1]} bytesFromClient=\\d+ bytesToClient=\\d+ durationMs=\\d+ reason=closed$`,
    );
    expect(access.filter((line) => !shape.test(line))).toEqual([]);
    expect(running.output()).not.toMatch(/ session /);
    rmSync(dir, { recursive: true });
  });

  it('VPROXY_LOG sets the level; --log-level wins; a bad level is named', async () => {
    const dead = await closedPort();
    const args = ['simple', '--bind', '127.0.0.1:0', '--backend', `127.0.0.1:${dead}`];
    // startCli passes this process's environment on.
    process.env.VPROXY_LOG = 'error';
    const quiet = await startCli(args, /listening on tcp:\/\/127\.0\.0\.1:(\d+)/);
    await curl(`http://127.0.0.1:${quiet.match[1]}/`).catch(() => '');
    expect(await quiet.running.stop()).toBe(0);
    expect(quiet.running.output()).not.toMatch(/backend-connect-failed/);
    const loud = await startCli(
      [...args, '--log-level', 'warn'],
      /listening on tcp:\/\/127\.0\.0\.1:(\d+)/,
    ).finally(() => {
      delete process.env.VPROXY_LOG;
    });
    await curl(`http://127.0.0.1:${loud.match[1]}/`).catch(() => '');
    await new Promise((r) => setTimeout(r, 100));
    expect(await loud.running.stop()).toBe(0);
    expect(loud.running.output()).toMatch(
      new RegExp(
        `WARN  backend-connect-failed .*backend=tcp://127\\.0\\.0\\.1:${dead} .*code=ECONNREFUSED errno=-111`,
      ),
    );
    const bad = await run(process.execPath, [VPROXY_BIN, ...args], {
      env: { ...process.env, VPROXY_LOG: 'loud' },
    }).catch((err: { code: number; stderr: string }) => err);
    expect(bad).toMatchObject({ code: 1 });
    expect((bad as { stderr: string }).stderr).toMatch(/VPROXY_LOG: invalid log level "loud"/);
  });

  it('prints usage with --help', async () => {
    const { stdout } = await run(process.execPath, [VPROXY_BIN, '--help']);
    expect(stdout).toMatch(/Usage: vproxy/);
    expect(stdout).toMatch(/simple/);
  });
});
