import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { startCli, VPROXY_BIN } from '../helpers/cli.js';
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

  it('prints usage with --help', async () => {
    const { stdout } = await run(process.execPath, [VPROXY_BIN, '--help']);
    expect(stdout).toMatch(/Usage: vproxy/);
    expect(stdout).toMatch(/simple/);
  });
});
