import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCli, startCli } from '../helpers/cli.js';
import { closedPort, startEchoServer, stopServer } from '../helpers/net.js';
import { alive, echoTransfer, openSession } from '../integration/workers/fixture.js';

// `vproxy simple --workers 2`: two worker processes accept on one socket,
// transfers are sha256-exact, the stop line sums both workers' counters, and
// no worker outlives the command.

let echo: { server: Server; port: number; sockets: Set<Socket> };
let simple: RunningCli | undefined;

beforeAll(async () => {
  echo = await startEchoServer();
});

afterAll(async () => {
  await simple?.stop();
  await stopServer(echo.server, echo.sockets);
});

describe('vproxy simple --workers 2', () => {
  it('serves from two worker processes and sums their counters at stop', async () => {
    const port = await closedPort();
    const { running, match } = await startCli(
      [
        'simple',
        '--bind',
        `127.0.0.1:${port}`,
        '--backend',
        `127.0.0.1:${echo.port}`,
        '--workers',
        '2',
      ],
      /2 worker processes: (\d+), (\d+)\)/,
    );
    simple = running;
    const pids = [Number(match[1]), Number(match[2])];
    expect(new Set(pids).size).toBe(2);
    for (const pid of pids) expect(alive(pid)).toBe(true);
    let moved = 0;
    const sizes = Array.from({ length: 12 }, (_, i) => 500_000 + i * 123_457);
    await Promise.all(
      sizes.map(async (size) => {
        const s = await openSession(port);
        // Awaited first: `moved += await …` would read moved before the other transfers add to it.
        const n = await echoTransfer(s, size);
        moved += n + 4;
        s.destroy();
      }),
    );
    expect(await running.stop()).toBe(0);
    expect(running.output()).toContain(
      `stopped after ${sizes.length} connections, ${moved} bytes in, ${moved} out`,
    );
    for (const pid of pids) expect(alive(pid)).toBe(false);
  });
});
