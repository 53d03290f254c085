import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detailText, type TcpLbDetail } from '../../src/control/details/records.js';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';

// The daemon as users drive it: the same setup typed at the StdIO prompt, sent
// with redis-cli and POSTed with curl gives the same listings, and traffic flows.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const redisCliTool = requireTool('redis-cli');
/** Suites below skip (locally) or have failed at import (CI) without these tools. */
const missing = anyMissing(curlTool, redisCliTool);
const note = skipNote(curlTool, redisCliTool);
let backend: Server;
let backendPort: number;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-daemon-'));
  backend = createServer((_req, res) => res.end('hello from the backend\n'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const a = backend.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  backendPort = a.port;
});

/** Every daemon started, so a failed test cannot leave one holding its ports. */
const daemons: RunningCli[] = [];

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
  rmSync(dir, { recursive: true, force: true });
});

interface Ports {
  lb: number;
  s5: number;
  resp: number;
  http: number;
}

function script(ports: Ports): string[] {
  return [
    'add event-loop-group elg0',
    'add event-loop el0 to event-loop-group elg0',
    'add server-group sg0 timeout 3000 period 200 up 1 down 2 method wrr check tcp event-loop-group elg0',
    `add server s0 to server-group sg0 address 127.0.0.1:${backendPort} weight 10`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0 weight 10',
    'add security-group secg0 default allow',
    'add security-group-rule r0 to security-group secg0 network 10.0.0.0/8 protocol tcp port-range 0,65535 default deny',
    `add tcp-lb lb0 address 127.0.0.1:${ports.lb} upstream ups0 security-group secg0`,
    `add socks5-server s5 address 127.0.0.1:${ports.s5} upstream ups0 security-group secg0`,
  ];
}

/** The same script as REST calls: [method, path, body]. */
function restScript(ports: Ports): [string, string, Record<string, unknown>][] {
  return [
    ['POST', '/api/v1/module/event-loop-group', { name: 'elg0' }],
    ['POST', '/api/v1/module/event-loop-group/elg0/event-loop', { name: 'el0' }],
    [
      'POST',
      '/api/v1/module/server-group',
      {
        name: 'sg0',
        timeout: 3000,
        period: 200,
        up: 1,
        down: 2,
        method: 'wrr',
        check: 'tcp',
        'event-loop-group': 'elg0',
      },
    ],
    [
      'POST',
      '/api/v1/module/server-group/sg0/server',
      { name: 's0', address: `127.0.0.1:${backendPort}`, weight: 10 },
    ],
    ['POST', '/api/v1/module/upstream', { name: 'ups0' }],
    ['POST', '/api/v1/module/upstream/ups0/server-group', { name: 'sg0', weight: 10 }],
    ['POST', '/api/v1/module/security-group', { name: 'secg0', default: 'allow' }],
    [
      'POST',
      '/api/v1/module/security-group/secg0/security-group-rule',
      {
        name: 'r0',
        network: '10.0.0.0/8',
        protocol: 'tcp',
        'port-range': '0,65535',
        default: 'deny',
      },
    ],
    [
      'POST',
      '/api/v1/module/tcp-lb',
      {
        name: 'lb0',
        address: `127.0.0.1:${ports.lb}`,
        upstream: 'ups0',
        'security-group': 'secg0',
      },
    ],
    [
      'POST',
      '/api/v1/module/socks5-server',
      { name: 's5', address: `127.0.0.1:${ports.s5}`, upstream: 'ups0', 'security-group': 'secg0' },
    ],
  ];
}

const LISTINGS = [
  'list-detail tcp-lb',
  'list-detail socks5-server',
  'list-detail server-group',
  'list-detail server in server-group sg0',
  'list-detail upstream',
  'list-detail security-group',
  'list-detail security-group-rule in security-group secg0',
  'list-detail event-loop in event-loop-group elg0',
];

async function freePorts(): Promise<Ports> {
  return {
    lb: await closedPort(),
    s5: await closedPort(),
    resp: await closedPort(),
    http: await closedPort(),
  };
}

async function startDaemon(ports: Ports, configDir: string, extra: string[] = []) {
  const { running } = await startCli(
    ['--config-dir', configDir, ...controllerArgs(ports), ...extra],
    /started; type/,
    { stdin: true },
  );
  daemons.push(running);
  return running;
}

async function curlJson(
  ports: Ports,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const args = [
    '-sS',
    '-X',
    method,
    '-H',
    'Authorization: Bearer tok',
    `http://127.0.0.1:${ports.http}${path}`,
  ];
  if (body !== undefined)
    args.push('-H', 'content-type: application/json', '--data', JSON.stringify(body));
  const { stdout } = await run(curlTool.path, args);
  return stdout.length > 0 ? JSON.parse(stdout) : null;
}

async function listingsViaHttp(ports: Ports): Promise<string[][]> {
  const out: string[][] = [];
  for (const line of LISTINGS) {
    const result = (await curlJson(ports, 'POST', '/api/v1/command', { command: line })) as {
      items: string[];
    };
    out.push(result.items);
  }
  return out;
}

async function untilUp(ports: Ports): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [line] = await redisCli(ports.resp, 'list-detail server in server-group sg0');
    if (line?.endsWith('currently UP')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('server never came UP');
}

async function trafficFlows(ports: Ports): Promise<void> {
  await untilUp(ports);
  const { stdout } = await run(curlTool.path, [
    '-sS',
    '--max-time',
    '3',
    `http://127.0.0.1:${ports.lb}/`,
  ]);
  expect(stdout).toBe('hello from the backend\n');
  const viaSocks = await run(curlTool.path, [
    '-sS',
    '--max-time',
    '3',
    '--socks5',
    `127.0.0.1:${ports.s5}`,
    `http://127.0.0.1:${backendPort}/`,
  ]);
  expect(viaSocks.stdout).toBe('hello from the backend\n');
}

describe.skipIf(missing)(`vproxy daemon${note}`, () => {
  let expected: string[][];
  const ports: Ports = { lb: 0, s5: 0, resp: 0, http: 0 };

  it('StdIO: the typed script builds a working LB', async () => {
    Object.assign(ports, await freePorts());
    const d = await startDaemon(ports, join(dir, 'stdio'), ['--no-load-last']);
    for (const line of script(ports)) d.child.stdin?.write(`${line}\n`);
    for (const line of LISTINGS) d.child.stdin?.write(`${line}\n`);
    await waitFor(d, () => (d.output().match(/\(done\)/g) ?? []).length >= script(ports).length);
    await trafficFlows(ports);
    expected = await listingsViaHttp(ports);
    expect(expected[0]?.[0]).toMatch(/^lb0 -> acceptor/);
    expect(d.output()).toContain(expected[0]?.[0]);
    expect(await d.stop()).toBe(0);
  });

  it('redis-cli: the same script gives the same listings', async () => {
    const d = await startDaemon(ports, join(dir, 'resp'), ['--no-load-last', '--no-stdio']);
    for (const line of script(ports)) expect(await redisCli(ports.resp, line)).toEqual(['OK']);
    await trafficFlows(ports);
    const viaRedis: string[][] = [];
    for (const line of LISTINGS) viaRedis.push(await redisCli(ports.resp, line));
    expect(viaRedis).toEqual(expected);
    expect(await d.stop()).toBe(0);
  });

  it('curl and the REST API: the same script gives the same listings', async () => {
    const d = await startDaemon(ports, join(dir, 'http'), ['--no-load-last', '--no-stdio']);
    for (const [method, path, body] of restScript(ports)) {
      expect(await curlJson(ports, method, path, body)).toEqual({ ok: true });
    }
    await trafficFlows(ports);
    expect(await listingsViaHttp(ports)).toEqual(expected);
    // REST answers objects; rendered as text they are exactly RESP's lines.
    const rest = (await curlJson(ports, 'GET', '/api/v1/module/tcp-lb')) as {
      items: TcpLbDetail[];
    };
    expect(rest.items.map((r) => detailText('tcp-lb', r))).toEqual(expected[0]);
    expect(rest.items[0]).toMatchObject({ name: 'lb0', upstream: 'ups0', protocol: 'tcp' });
    expect(await curlJson(ports, 'GET', '/api/v1/module/tcp-lb/nope')).toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    expect(await curlJson(ports, 'DELETE', '/api/v1/module/upstream/ups0')).toMatchObject({
      code: 'ERR_IN_USE',
      message: 'upstream ups0 is used by tcp-lb lb0',
    });
    expect(
      await curlJson(ports, 'POST', '/api/v1/module/upstream', { name: 'u', colour: 'red' }),
    ).toMatchObject({
      code: 'ERR_COMMAND_INVALID',
      message: 'unknown key colour; expected one of: name',
    });
    expect(await d.stop()).toBe(0);
  });

  it('save, restart with --load: list config is identical; SIGINT saves and the next start restores', async () => {
    const configDir = join(dir, 'persist');
    const d1 = await startDaemon(ports, configDir, [
      '--no-load-last',
      '--no-stdio',
      '--allow-remote-file-commands',
    ]);
    for (const line of script(ports)) await redisCli(ports.resp, line);
    const saved = join(dir, 'saved.conf');
    expect(await redisCli(ports.resp, `save ${saved}`)).toEqual(['OK']);
    const config = await redisCli(ports.resp, 'list config');
    d1.child.kill('SIGINT');
    await once(d1.child, 'exit');
    expect(readFileSync(join(configDir, 'last'), 'utf8').trim().split('\n')).toEqual(config);

    const d2 = await startDaemon(ports, join(dir, 'other'), ['--no-stdio', '--load', saved]);
    expect(await redisCli(ports.resp, 'list config')).toEqual(config);
    await trafficFlows(ports);
    expect(await d2.stop()).toBe(0);

    const d3 = await startDaemon(ports, configDir, ['--no-stdio']);
    expect(await redisCli(ports.resp, 'list config')).toEqual(config);
    await trafficFlows(ports);
    expect(await d3.stop()).toBe(0);
  });
});

async function waitFor(d: RunningCli, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!ok()) throw new Error(`daemon output:\n${d.output()}`);
}
