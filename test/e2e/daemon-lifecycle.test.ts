import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import {
  closedPort,
  startEchoServer,
  startServer,
  stopServer,
  writeRandom,
} from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';
import { until as poll } from '../helpers/wait.js';

// Issue 14, lifecycle: SIGHUP stopped the daemon (operators expect a reload),
// SIGTERM reset transfers in flight. Now SIGHUP applies the config file as a
// diff, and SIGTERM stops accepting and lets open sessions finish.

const redisCliTool = requireTool('redis-cli');
const note = skipNote(redisCliTool);

let dir: string;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
const daemons: RunningCli[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-lifecycle-'));
  echo = await startEchoServer();
});
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});
afterAll(async () => {
  await stopServer(echo.server, echo.sockets);
  rmSync(dir, { recursive: true, force: true });
});

function config(backend: number, lbs: readonly string[]): string {
  return `${[
    'add server-group sg0 timeout 500 period 60000 up 1 down 2 check none',
    'add upstream ups0',
    'add server-group sg0 to upstream ups0',
    ...lbs,
    `add server s0 to server-group sg0 address 127.0.0.1:${backend}`,
  ].join('\n')}\n`;
}

async function daemonWith(file: string, extra: readonly string[] = []): Promise<RunningCli> {
  const ports = { resp: await closedPort(), http: await closedPort() };
  const { running } = await startCli(
    [
      '--no-stdio',
      '--no-save',
      '--config-dir',
      dir,
      '--load',
      file,
      ...controllerArgs(ports),
      // A test's own value comes later and wins; stop() must not wait 30 s on a failed test.
      '--drain-timeout',
      '1000',
      ...extra,
    ],
    /started; /,
  );
  daemons.push(running);
  (running as RunningCli & { resp?: number }).resp = ports.resp;
  return running;
}

function respPort(d: RunningCli): number {
  return (d as RunningCli & { resp: number }).resp;
}

async function until(d: RunningCli, pattern: RegExp, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pattern.test(d.output())) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${d.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function dial(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  return s;
}

/** Write a line and read its echo back. */
async function roundTrip(s: Socket, text: string): Promise<string> {
  s.write(text);
  let got = '';
  while (got.length < text.length) got += ((await once(s, 'data'))[0] as Buffer).toString();
  return got;
}

/** Whether a connect to the port is refused (nothing listens). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe.skipIf(redisCliTool.missing)(`SIGHUP reloads the config as a diff${note}`, () => {
  it('an unchanged tcp-lb keeps its connection; changed ones are updated, replaced, added, removed', async () => {
    const [keep, change, gone, moved, movedTo, added] = await Promise.all(
      Array.from({ length: 6 }, () => closedPort()),
    );
    const lb = (name: string, port: number | undefined, extra = '') =>
      `add tcp-lb ${name} address 127.0.0.1:${port} upstream ups0${extra}`;
    const file = join(dir, 'hup.conf');
    writeFileSync(
      file,
      config(echo.port, [
        lb('keep', keep),
        lb('change', change),
        lb('gone', gone),
        lb('moved', moved),
      ]),
    );
    const d = await daemonWith(file);
    const client = await dial(keep ?? 0);
    expect(await roundTrip(client, 'before the reload')).toBe('before the reload');

    writeFileSync(
      file,
      config(echo.port, [
        lb('keep', keep),
        lb('change', change, ' timeout 5000'),
        lb('moved', movedTo),
        lb('added', added),
      ]),
    );
    d.child.kill('SIGHUP');
    await until(d, /reload-finished .*changes=5 failed=0/);

    // The established session through the unchanged listener is still there.
    expect(client.destroyed).toBe(false);
    expect(await roundTrip(client, 'after the reload')).toBe('after the reload');
    client.destroy();

    const detail = await redisCli(respPort(d), 'list-detail tcp-lb');
    expect(detail.map((l) => l.split(' ')[0])).toEqual(['keep', 'change', 'moved', 'added']);
    expect(detail.find((l) => l.startsWith('change '))).toMatch(/ timeout 5000 /);
    expect(await refused(gone ?? 0)).toBe(true);
    expect(await refused(moved ?? 0)).toBe(true);
    for (const port of [movedTo, added]) {
      const s = await dial(port ?? 0);
      expect(await roundTrip(s, 'new')).toBe('new');
      s.destroy();
    }
    const out = d.output();
    expect(out).toMatch(
      /config-change change=updated command="update tcp-lb change .*timeout 5000/,
    );
    expect(out).toMatch(/config-change change=removed command="remove tcp-lb gone"/);
    expect(out).toMatch(/config-change change=replaced command="remove tcp-lb moved"/);
    expect(out).toMatch(/config-change change=added command="add tcp-lb added /);
    // Still running: SIGHUP is not a stop any more.
    expect(d.child.exitCode).toBeNull();

    // A file that does not parse changes nothing, says why, and the daemon stays.
    writeFileSync(file, 'add tcp-lb broken address nowhere upstream ups0\n');
    d.child.kill('SIGHUP');
    await until(d, /ERROR reload-failed .*hup\.conf:1: invalid address nowhere/);
    expect(d.child.exitCode).toBeNull();
    const after = await redisCli(respPort(d), 'list tcp-lb');
    expect(after).toEqual(['keep', 'change', 'moved', 'added']);
  }, 30_000);
});

describe(`SIGTERM drains`, () => {
  it('stops accepting, lets a slow 100 MB transfer finish (sha256), then exits 0', async () => {
    const total = 100 * 1024 * 1024;
    let sent: Promise<string> | undefined;
    const source = await startServer((socket) => {
      socket.on('error', () => {});
      sent = writeRandom(socket, total);
    });
    const port = await closedPort();
    const file = join(dir, 'drain.conf');
    writeFileSync(
      file,
      config(source.port, [`add tcp-lb big address 127.0.0.1:${port} upstream ups0`]),
    );
    const d = await daemonWith(file, ['--drain-timeout', '30000']);
    const client = await dial(port);
    // A slow reader: ~40 MB/s, so the transfer takes seconds and SIGTERM finds it in flight.
    const hash = createHash('sha256');
    let got = 0;
    let signalled = false;
    const done = new Promise<void>((resolve, reject) => {
      client.on('data', (chunk: Buffer) => {
        got += chunk.length;
        hash.update(chunk);
        client.pause();
        setTimeout(() => client.resume(), chunk.length / 40_000);
        if (!signalled && got > 8 * 1024 * 1024) {
          signalled = true;
          d.child.kill('SIGTERM');
        }
      });
      client.once('end', resolve);
      client.once('error', reject);
    });
    // Awaited below; an assertion failing first must not leave its rejection unhandled.
    done.catch(() => {});
    const started = Date.now();
    // Listening has stopped while the transfer goes on.
    await until(d, /drain-started/);
    expect(await refused(port)).toBe(true);
    expect(got).toBeLessThan(total);
    await done;
    expect(got).toBe(total);
    expect(hash.digest('hex')).toBe(await sent);
    const [code] = await once(d.child, 'exit');
    expect(code).toBe(0);
    expect(d.output()).toMatch(/drain-finished sessions=1 left=0/);
    expect(d.output()).toMatch(/SIGTERM: draining/);
    expect(Date.now() - started).toBeLessThan(30_000);
    client.destroy();
    await stopServer(source.server, source.sockets);
  }, 60_000);

  it('closes what is left when the drain timeout ends', async () => {
    const hold = await startServer((socket) => socket.on('error', () => {}));
    const port = await closedPort();
    const file = join(dir, 'drain-timeout.conf');
    writeFileSync(
      file,
      config(hold.port, [`add tcp-lb idle address 127.0.0.1:${port} upstream ups0`]),
    );
    const d = await daemonWith(file, ['--drain-timeout', '300']);
    const client = await dial(port);
    client.on('error', () => {});
    // The session is the daemon's once it has dialled the backend: waited for, not 100 ms
    // slept on (a loaded machine schedules the daemon later; 'sessions=0' then).
    await poll('the daemon holds the session', () => hold.sockets.size === 1, 10_000);
    d.child.kill('SIGTERM');
    const [code] = await once(d.child, 'exit');
    expect(code).toBe(0);
    expect(d.output()).toMatch(/drain-timeout sessions=1 left=1/);
    await stopServer(hold.server, hold.sockets);
    client.destroy();
  }, 20_000);
});
