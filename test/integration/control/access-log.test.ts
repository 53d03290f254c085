import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import { createLogger } from '../../../src/fd/logger.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { startEchoServer, stopServer } from '../../helpers/net.js';
import { until } from '../../helpers/wait.js';

// Issue 14: the daemon's listeners log through the daemon's logger; with
// `access-log on` every closed session is one line whose byte counts equal
// what the client moved. `update … access-log` switches it on a running listener.

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    threshold: 'info',
    format: 'json',
    write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
  });
  const echo = await startEchoServer();
  cleanup.push(() => stopServer(echo.server, echo.sockets));
  const store = new ResourceStore(createDefaultRegistry(), logger);
  cleanup.push(() => store.close());
  const ex = new StoreExecutor({ store, logger });
  for (const line of [
    'add server-group sg0 timeout 500 period 60000 up 1 down 2 check none',
    `add server s0 to server-group sg0 address 127.0.0.1:${echo.port}`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0',
    'add tcp-lb lb0 address 127.0.0.1:0 upstream ups0 access-log on',
    'add tcp-lb quiet address 127.0.0.1:0 upstream ups0',
  ])
    await ex.execute(line, 'stdio');
  const port = (name: string) => store.tcpLbs.get(name)?.lb.bound().port ?? 0;
  return { lines, ex, port };
}

/** Send `bytes` through the listener, read the echo, close; resolves after the close. */
async function moveBytes(port: number, bytes: number): Promise<void> {
  const s = connect(port, '127.0.0.1');
  await once(s, 'connect');
  s.end(Buffer.alloc(bytes, 7));
  let got = 0;
  s.on('data', (c: Buffer) => {
    got += c.length;
  });
  await once(s, 'close');
  expect(got).toBe(bytes);
}

async function sessionLines(lines: Record<string, unknown>[], n: number) {
  const sessions = () => lines.filter((l) => l.event === 'session');
  await until(`${n} session lines`, () => sessions().length >= n, 10_000);
  return sessions();
}

describe('the daemon logger reaches the listeners', () => {
  it('access-log on: one session line per closed session with the bytes the client moved', async () => {
    const { lines, port } = await setup();
    await moveBytes(port('lb0'), 12_345);
    await moveBytes(port('lb0'), 1);
    await moveBytes(port('quiet'), 99);
    const sessions = await sessionLines(lines, 2);
    expect(sessions.map((s) => [s.listener, s.bytesFromClient, s.bytesToClient])).toEqual([
      ['lb0', 12_345, 12_345],
      ['lb0', 1, 1],
    ]);
    // Each change of state was logged, once, at info.
    expect(lines.filter((l) => l.event === 'command').map((l) => l.command)).toContain(
      'add tcp-lb lb0 address 127.0.0.1:0 upstream ups0 access-log on',
    );
  });

  it('update tcp-lb … access-log switches it on a running listener; list config keeps it', async () => {
    const { lines, ex, port } = await setup();
    await ex.execute('update tcp-lb quiet access-log on', 'stdio');
    await ex.execute('update tcp-lb lb0 access-log off retries 0', 'stdio');
    await moveBytes(port('quiet'), 10);
    await moveBytes(port('lb0'), 10);
    // A line lb0 should not write would come when its session closes: wait for that
    // (and for quiet's line), then read the lines afresh, instead of a 100 ms sleep
    // after a snapshot that could not see a late line anyway.
    await until(
      "quiet's session line and lb0's session closed",
      async () => {
        const open = await ex.execute('list session in tcp-lb lb0', 'stdio');
        return (
          lines.some((l) => l.event === 'session') && open.kind === 'number' && open.value === 0
        );
      },
      10_000,
    );
    expect(lines.filter((l) => l.event === 'session').map((s) => s.listener)).toEqual(['quiet']);
    const config = await ex.execute('list config', 'stdio');
    const text = config.kind === 'lines' ? config.lines.join('\n') : '';
    expect(text).toMatch(/add tcp-lb quiet .* retries 2 access-log on/);
    expect(text).toMatch(/add tcp-lb lb0 .* retries 0 protocol tcp/);
  });
});
