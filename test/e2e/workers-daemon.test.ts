import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, HTTP_TOKEN, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { childPids, metric, waitFor } from '../helpers/daemon-processes.js';
import { closedPort, peerClosedWithin, startEchoServer, stopServer } from '../helpers/net.js';
import { anyMissing, requireTool, skipNote } from '../helpers/require-tool.js';
import { alive, echoTransfer, openSession } from '../integration/workers/fixture.js';

// `vproxy --workers 2`: the daemon's default group is two worker processes; a
// tcp-lb added over RESP runs in both, sessions are counted and killed through
// the main process, /metrics sums the workers, a worker killed with -9 comes
// back, and SIGTERM leaves no process behind.

const redisCliTool = requireTool('redis-cli');
const missing = anyMissing(redisCliTool);
const note = skipNote(redisCliTool);

let echo: { server: Server; port: number; sockets: Set<Socket> };
let dir: string;
/** Every daemon started, so one a failed test left running is still stopped. */
const daemons: RunningCli[] = [];
const clients = new Set<Socket>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-workers-'));
  echo = await startEchoServer();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(daemons.map((d) => d.stop()));
  await stopServer(echo.server, echo.sockets);
  rmSync(dir, { recursive: true, force: true });
});

/** `vproxy --workers 2` with controllers on `ports`; its pid and its two workers' pids. */
async function startWithTwoWorkers(ports: { resp: number; http: number }) {
  const started = await startCli(
    [
      '--config-dir',
      dir,
      '--no-save',
      '--no-load-last',
      '--workers',
      '2',
      ...controllerArgs(ports),
    ],
    /started; type/,
    { stdin: true },
  );
  const daemon = started.running;
  daemons.push(daemon);
  const pid = daemon.child.pid as number;
  const workers = await waitFor('two workers', () => {
    const kids = childPids(pid);
    return kids.length === 2 ? kids : undefined;
  });
  return { daemon, pid, workers };
}

describe.skipIf(missing)(`vproxy --workers 2${note}`, () => {
  it('serves a tcp-lb from two worker processes, sums their counters, restarts a killed one, leaves none', async () => {
    const ports = { resp: await closedPort(), http: await closedPort(), lb: await closedPort() };
    const { daemon, pid, workers } = await startWithTwoWorkers(ports);
    expect(await redisCli(ports.resp, 'list event-loop in event-loop-group (worker-elg)')).toEqual([
      '(worker-el-0)',
      '(worker-el-1)',
    ]);
    for (const line of [
      'add upstream up0',
      'add server-group sg0 timeout 3000 period 200 up 1 down 2',
      `add server s0 to server-group sg0 address 127.0.0.1:${echo.port} weight 10`,
      'add server-group sg0 to upstream up0 weight 10',
      `add tcp-lb lb0 address 127.0.0.1:${ports.lb} upstream up0`,
    ]) {
      expect(await redisCli(ports.resp, line)).toEqual(['OK']);
    }
    await waitFor('s0 UP', async () => {
      const [detail] = await redisCli(ports.resp, 'list-detail server in server-group sg0');
      return detail?.includes('UP') ? true : undefined;
    });

    // 40 sessions through the workers: counted and killed from the main process.
    const held: Socket[] = [];
    for (let i = 0; i < 40; i++) {
      const s = await openSession(ports.lb);
      s.on('error', () => {});
      clients.add(s);
      held.push(s);
    }
    expect(await redisCli(ports.resp, 'list session in tcp-lb lb0')).toEqual(['40']);
    // The status page says which worker holds each session: both workers, no other pid.
    const open = (await (
      await fetch(`http://127.0.0.1:${ports.http}/api/v1/status`, {
        headers: { authorization: `Bearer ${HTTP_TOKEN}` },
      })
    ).json()) as { sessions: { recent: { pid?: number }[] } };
    expect(new Set(open.sessions.recent.map((x) => x.pid))).toEqual(new Set(workers));
    expect(await redisCli(ports.resp, 'force-remove session /127.0.0.1/ in tcp-lb lb0')).toEqual([
      '40',
    ]);
    await Promise.all(held.map((s) => peerClosedWithin(s, 5000)));
    expect(await redisCli(ports.resp, 'list session in tcp-lb lb0')).toEqual(['0']);

    // Transfers, sha256-checked; the counters sum what the clients moved.
    let moved = 40 * 4;
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const s = await openSession(ports.lb);
        clients.add(s);
        const n = await echoTransfer(s, 1_000_000 + i * 77_777);
        moved += n + 4;
        s.destroy();
      }),
    );
    const bytesIn = await waitFor('metrics to sum the workers', async () => {
      const v = await metric(ports.http, 'vproxy_listener_bytes_in_total', 'listener="lb0"');
      return v === moved ? v : undefined;
    });
    expect(bytesIn).toBe(moved);
    const [detail] = await redisCli(ports.resp, 'list-detail tcp-lb');
    expect(detail).toContain('lb0');

    // The server's own counters sum the workers too: 50 connections, every byte each way.
    const s0 = 'in server s0 in server-group sg0';
    expect(await redisCli(ports.resp, `list bytes-out ${s0}`)).toEqual([String(moved)]);
    expect(await redisCli(ports.resp, `list bytes-in ${s0}`)).toEqual([String(moved)]);
    for (const [name, value] of [
      ['vproxy_server_connections_total', 50],
      ['vproxy_server_bytes_out_total', moved],
      ['vproxy_server_bytes_in_total', moved],
      ['vproxy_server_active_connections', 0],
      ['vproxy_server_connect_failures_total', 0],
    ] as const) {
      expect(await metric(ports.http, name, 'server="s0"'), name).toBe(value);
    }
    const status = (await (
      await fetch(`http://127.0.0.1:${ports.http}/api/v1/status`, {
        headers: { authorization: `Bearer ${HTTP_TOKEN}` },
      })
    ).json()) as {
      serverGroups: { name: string; servers: { name: string; [k: string]: unknown }[] }[];
    };
    const page = status.serverGroups.find((g) => g.name === 'sg0')?.servers[0];
    expect(page).toMatchObject({
      name: 's0',
      totalConnections: 50,
      activeConnections: 0,
      bytesIn: moved,
      bytesOut: moved,
    });

    // kill -9 of one worker: restarted (a new pid), and the tcp-lb serves again.
    process.kill(workers[0] as number, 'SIGKILL');
    const after = await waitFor('a restarted worker', () => {
      const kids = childPids(pid);
      return kids.length === 2 && !kids.includes(workers[0] as number) ? kids : undefined;
    });
    expect(after).toContain(workers[1]);
    const again = await openSession(ports.lb);
    clients.add(again);
    again.destroy();

    // SIGTERM: the daemon exits and so do its workers.
    expect(await daemon.stop()).toBe(0);
    for (const w of after)
      await waitFor(`worker ${w} gone`, () => (alive(w) ? undefined : true), 5000);
  });

  it('workers exit when the daemon is killed with -9 (their IPC channel closes)', async () => {
    const ports = { resp: await closedPort(), http: await closedPort() };
    const { daemon, workers } = await startWithTwoWorkers(ports);
    const exited = once(daemon.child, 'exit');
    daemon.child.kill('SIGKILL');
    await exited;
    // Killed, not stopped: nothing for afterAll to stop (stop() would wait for an exit already seen).
    daemons.splice(daemons.indexOf(daemon), 1);
    for (const w of workers)
      await waitFor(`worker ${w} gone`, () => (alive(w) ? undefined : true), 5000);
  });
});
