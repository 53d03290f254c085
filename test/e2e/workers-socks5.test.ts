import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { childPids, metric, waitFor } from '../helpers/daemon-processes.js';
import { closedPorts } from '../helpers/net.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';

// `vproxy --workers 2` with a socks5-server added over RESP: curl
// --socks5-hostname reaches a backend by name through both worker processes
// (each session's access-log line names its worker's pid), a socks5-user added
// afterwards is required by both, and the server's counters sum the workers.

const run = promisify(execFile);
const curlTool = requireTool('curl');
const redisCliTool = requireTool('redis-cli');
const missing = anyMissing(curlTool, redisCliTool);
const note = skipNote(curlTool, redisCliTool);

/** curl through the socks5 server to http://web.test/ (resolved by the proxy): exit code and body. */
async function viaSocks(port: number, user?: string): Promise<{ code: unknown; body: string }> {
  const proxy = `${user === undefined ? '' : `${user}@`}127.0.0.1:${port}`;
  try {
    const { stdout } = await run(curlTool.path, [
      '-sS',
      '--max-time',
      '5',
      '--socks5-hostname',
      proxy,
      'http://web.test:8080/',
    ]);
    return { code: 0, body: stdout };
  } catch (err) {
    return { code: (err as { code?: unknown }).code, body: '' };
  }
}

let backend: Server;
let backendPort: number;
let dir: string;
let daemon: RunningCli | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-workers-socks5-'));
  backend = createServer((_req, res) => res.end('hello from web.test\n'));
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  backendPort = (backend.address() as { port: number }).port;
});

afterAll(async () => {
  await daemon?.stop();
  backend.closeAllConnections();
  await new Promise((r) => backend.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(missing)(`socks5-server on vproxy --workers 2${note}`, () => {
  it('curl --socks5-hostname through both workers; users and counters span them', async () => {
    const [resp, http, s5] = (await closedPorts(3)) as [number, number, number];
    const started = await startCli(
      [
        '--config-dir',
        dir,
        '--no-save',
        '--no-load-last',
        '--workers',
        '2',
        ...controllerArgs({ resp, http }),
      ],
      /started; type/,
      { stdin: true },
    );
    daemon = started.running;
    const pid = daemon.child.pid as number;
    const workers = await waitFor('two workers', () => {
      const kids = childPids(pid);
      return kids.length === 2 ? kids : undefined;
    });
    for (const line of [
      'add upstream ups0',
      'add server-group web.test timeout 3000 period 200 up 1 down 2',
      `add server w0 to server-group web.test address 127.0.0.1:${backendPort} weight 10`,
      'add server-group web.test to upstream ups0 weight 10',
      `add socks5-server s5 address 127.0.0.1:${s5} upstream ups0 access-log on`,
    ]) {
      expect(await redisCli(resp, line)).toEqual(['OK']);
    }
    await waitFor('w0 UP', async () => {
      const [detail] = await redisCli(resp, 'list-detail server in server-group web.test');
      return detail?.includes('UP') ? true : undefined;
    });

    // Requests until each worker's pid is in a session's access-log line.
    const running = daemon;
    const sessionPids = () =>
      new Set(
        running
          .output()
          .split('\n')
          .filter((l) => l.includes('session') && l.includes('listener=s5'))
          .map((l) => Number(/\bpid=(\d+)/.exec(l)?.[1])),
      );
    let requests = 0;
    while (!workers.every((w) => sessionPids().has(w))) {
      if (requests >= 100) throw new Error(`100 requests, session pids ${[...sessionPids()]}`);
      expect(await viaSocks(s5)).toEqual({ code: 0, body: 'hello from web.test\n' });
      requests++;
      // The access-log line is written when the session closes.
      await new Promise((r) => setTimeout(r, 20));
    }
    expect([...sessionPids()].sort()).toEqual(workers);

    // A user added now is required by both workers (curl's 97: the proxy refused).
    expect(
      await redisCli(resp, 'add socks5-user alice to socks5-server s5 password w0nder'),
    ).toEqual(['OK']);
    for (let i = 0; i < 6; i++) {
      expect((await viaSocks(s5)).code).toBe(97);
      expect(await viaSocks(s5, 'alice:w0nder')).toEqual({
        code: 0,
        body: 'hello from web.test\n',
      });
      requests++;
    }

    // Counters: the listener's and the server's sum every worker.
    expect(await redisCli(resp, 'list session in socks5-server s5')).toEqual(['0']);
    const total = await waitFor('the server counters', async () => {
      const v = await metric(http, 'vproxy_server_connections_total', 'server="w0"');
      return v === requests ? v : undefined;
    });
    expect(total).toBe(requests);
    expect(await metric(http, 'vproxy_listener_accepted_connections_total', 'listener="s5"')).toBe(
      requests + 6,
    );
    const [bytesOut] = await redisCli(resp, 'list bytes-out in server w0 in server-group web.test');
    expect(Number(bytesOut)).toBeGreaterThan(requests * 50);
    const [detail] = await redisCli(resp, 'list-detail socks5-server');
    expect(detail).toContain('s5');
    expect(await daemon.stop()).toBe(0);
    daemon = undefined;
  });
});
