import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';

// Issue 10 #5 through a real daemon: `force-remove upstream` of an upstream a
// tcp-lb uses is refused over redis-cli (it used to succeed, leaving the tcp-lb
// dropping every client and an exit save the next start refused to load);
// after SIGINT the daemon restarts from its saved config and serves.

const curlTool = requireTool('curl');
const redisCliTool = requireTool('redis-cli');
const run = promisify(execFile);
let backend: Server;
let backendPort: number;
let dir: string;
const daemons: RunningCli[] = [];
const ports = { lb: 0, s5: 0, resp: 0, http: 0 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-broken-e2e-'));
  backend = createServer((_req, res) => res.end('still serving\n'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const a = backend.address();
  if (a === null || typeof a === 'string') throw new Error('no address');
  backendPort = a.port;
  for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await closedPort();
});

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function startDaemon(extra: string[]): Promise<RunningCli> {
  const { running } = await startCli(
    ['--config-dir', join(dir, 'home'), '--no-stdio', ...controllerArgs(ports), ...extra],
    /started; type/,
  );
  daemons.push(running);
  return running;
}

async function served(): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const [line] = await redisCli(ports.resp, 'list-detail server in server-group g1');
    if (line?.endsWith('currently UP')) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const { stdout } = await run(curlTool.path, [
    '-sS',
    '--max-time',
    '3',
    `http://127.0.0.1:${ports.lb}/`,
  ]);
  return stdout;
}

describe.skipIf(curlTool.missing || redisCliTool.missing)(
  `a daemon never saves a config it cannot load${skipNote(curlTool, redisCliTool)}`,
  () => {
    it('refuses force-remove of a used upstream and elg; the exit save restarts and serves', async () => {
      const d1 = await startDaemon(['--no-load-last']);
      for (const line of [
        'add event-loop-group e1',
        'add event-loop l1 to event-loop-group e1',
        'add server-group g1 timeout 3000 period 200 up 1 down 2',
        `add server s1 to server-group g1 address 127.0.0.1:${backendPort}`,
        'add upstream up1',
        'add server-group g1 to upstream up1 weight 10',
        `add tcp-lb lb1 address 127.0.0.1:${ports.lb} upstream up1`,
        `add socks5-server x1 address 127.0.0.1:${ports.s5} upstream up1 event-loop-group e1`,
      ]) {
        expect(await redisCli(ports.resp, line)).toEqual(['OK']);
      }
      expect(await served()).toBe('still serving\n');

      expect(await redisCli(ports.resp, 'force-remove upstream up1')).toEqual([
        'ERR upstream up1 is used by tcp-lb lb1',
      ]);
      expect(await redisCli(ports.resp, 'remove event-loop-group e1')).toEqual([
        'ERR event-loop-group e1 is used by socks5-server x1',
      ]);
      expect(await redisCli(ports.resp, 'R server-group g1')).toEqual([
        'ERR server-group g1 is used by upstream up1',
      ]);
      const missing = join(dir, 'nope.pem');
      expect(await redisCli(ports.resp, `add cert-key c1 cert ${missing} key ${missing}`)).toEqual([
        expect.stringMatching(`^ERR cert-key c1: cannot read cert ${missing}: `),
      ]);
      expect(await served()).toBe('still serving\n');
      const config = await redisCli(ports.resp, 'list config');

      d1.child.kill('SIGINT');
      expect((await once(d1.child, 'exit'))[0]).toBe(0);
      expect(
        readFileSync(join(dir, 'home', 'last'), 'utf8')
          .trim()
          .split('\n'),
      ).toEqual(config);

      const d2 = await startDaemon([]);
      expect(d2.output()).toMatch(/loaded 8 commands/);
      expect(await redisCli(ports.resp, 'list config')).toEqual(config);
      expect(await served()).toBe('still serving\n');
      expect(await d2.stop()).toBe(0);
    });
  },
);
