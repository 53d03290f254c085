import { execFile } from 'node:child_process';

import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTIONS, PARAMS, TYPES } from '../../src/control/command/keywords.js';
import { controllerArgs, type RunningCli, startCli, VPROXY_BIN } from '../helpers/cli.js';
import { closedPort, readAll } from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';

// Garbage at every controller of a running daemon: precise errors, no crash,
// and the daemon keeps answering. Plus the refusals of a careless setup.

const run = promisify(execFile);
const redisCliTool = requireTool('redis-cli');
const missing = redisCliTool.missing;
const note = skipNote(redisCliTool);
let dir: string;
let daemon: RunningCli;
let respPort: number;
let httpPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-bad-'));
  respPort = await closedPort();
  httpPort = await closedPort();
  ({ running: daemon } = await startCli(
    [
      '--config-dir',
      dir,
      '--no-stdio',
      '--no-load-last',
      ...controllerArgs({ resp: respPort, http: httpPort }),
    ],
    /started; type/,
  ));
});

afterAll(async () => {
  expect(await daemon.stop()).toBe(0);
  rmSync(dir, { recursive: true, force: true });
});

function http(
  method: string,
  path: string,
  body?: string,
  token = 'tok',
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: httpPort,
        method,
        path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const vocabulary = [
  ...ACTIONS.keys(),
  ...TYPES.keys(),
  ...PARAMS.keys(),
  'in',
  'to',
  'from',
  'x',
  '1',
  '127.0.0.1:1',
];

describe('a daemon under bad input', () => {
  it('fuzzed command lines over HTTP always get a precise 4xx or a result, never a 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constantFrom(...vocabulary), fc.string({ maxLength: 6 })), {
          maxLength: 10,
        }),
        async (tokens) => {
          const { status, json } = await http(
            'POST',
            '/api/v1/command',
            JSON.stringify({ command: tokens.join(' ') }),
          );
          expect([200, 400, 403, 404, 409, 501]).toContain(status);
          if (status !== 200)
            expect((json as { message: string }).message.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 300 },
    );
    expect((await http('GET', '/healthz')).status).toBe(200);
  });

  it('malformed and oversized bodies get 400 with the reason', async () => {
    expect(await http('POST', '/api/v1/command', '{"command": ')).toMatchObject({
      status: 400,
      json: { code: 'ERR_COMMAND_INVALID', message: expect.stringMatching(/^malformed JSON/) },
    });
    expect(await http('POST', '/api/v1/module/upstream', '[1,2]')).toMatchObject({ status: 400 });
    expect(
      await http('POST', '/api/v1/command', JSON.stringify({ command: 'x'.repeat(70_000) })),
    ).toMatchObject({
      status: 400,
      json: { message: 'body larger than 65536 bytes' },
    });
    expect(await http('GET', '/api/v1/nothing')).toMatchObject({ status: 404 });
  });

  it('a name in a REST path is one word: it cannot smuggle "from <other parent>" into the command', async () => {
    for (const cmd of ['add upstream ups-a', 'add upstream ups-b']) {
      expect((await http('POST', '/api/v1/command', JSON.stringify({ command: cmd }))).status).toBe(
        200,
      );
    }
    const sneaky = '/api/v1/module/upstream/ups-a/server-group/x%20from%20upstream%20ups-b';
    expect(await http('DELETE', sneaky)).toMatchObject({
      status: 400,
      json: { code: 'ERR_COMMAND_INVALID', message: expect.stringMatching(/invalid name in path/) },
    });
    expect(await http('DELETE', '/api/v1/module/upstream/ups%20b')).toMatchObject({ status: 400 });
    expect((await http('GET', '/api/v1/module/upstream')).json).toMatchObject({
      items: expect.arrayContaining([{ name: 'ups-a' }, { name: 'ups-b' }]),
    });
    for (const name of ['ups-a', 'ups-b']) {
      expect((await http('DELETE', `/api/v1/module/upstream/${name}`)).status).toBe(204);
    }
  });

  it('a wrong token is refused', async () => {
    expect(await http('GET', '/api/v1/module/tcp-lb', undefined, 'nope')).toMatchObject({
      status: 401,
      json: { code: 'ERR_UNAUTHORIZED' },
    });
  });

  const respGarbage = 'RESP garbage gets an error and a close; redis-cli still works after';
  it.skipIf(missing)(`${respGarbage}${note}`, async () => {
    const raw = connect(respPort, '127.0.0.1');
    raw.on('error', () => {});
    raw.write(Buffer.from([0x2a, 0xff, 0x0d, 0x0a]));
    expect((await readAll(raw)).toString()).toMatch(/^-ERR invalid array length/);
    raw.destroy();
    const { stdout } = await run(redisCliTool.path, [
      '-p',
      String(respPort),
      '-a',
      'pw',
      '--no-auth-warning',
      'list',
      'upstream',
    ]);
    expect(stdout).toBe('\n');
  });

  it('refuses a controller on a non-loopback address without an explicit secret', async () => {
    const result = await run(process.execPath, [
      VPROXY_BIN,
      '--config-dir',
      join(dir, 'x'),
      '--no-stdio',
      '--no-load-last',
      '--resp-controller',
      'off',
      '--http-controller',
      '0.0.0.0:0',
    ]).catch((err: { code: number; stderr: string }) => err);
    expect(result).toMatchObject({ code: 1 });
    expect((result as { stderr: string }).stderr).toMatch(
      /refusing to start a controller on non-loopback 0\.0\.0\.0 without an explicit http-token/,
    );
  });
});
