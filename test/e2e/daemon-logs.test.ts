import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controllerArgs, type RunningCli, redisCli, startCli } from '../helpers/cli.js';
import { closedPort } from '../helpers/net.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';

// Issue 14: the daemon said nothing. Now: --log-level (default $VPROXY_LOG,
// else info), --log-format text|json, lines on stderr, the banner on stdout.

const redisCliTool = requireTool('redis-cli');
const note = skipNote(redisCliTool);
let dir: string;
const started: RunningCli[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-logs-'));
});
afterAll(async () => {
  await Promise.all(started.map((d) => d.stop()));
  rmSync(dir, { recursive: true, force: true });
});

async function daemon(extra: readonly string[], env?: NodeJS.ProcessEnv) {
  const ports = { resp: await closedPort(), http: await closedPort() };
  const { running } = await startCli(
    [
      '--no-stdio',
      '--no-save',
      '--no-load-last',
      '--config-dir',
      dir,
      ...controllerArgs(ports),
      ...extra,
    ],
    /started; /,
    env === undefined ? {} : { env: { ...process.env, ...env } },
  );
  started.push(running);
  return { running, ports };
}

async function stop(d: RunningCli): Promise<string> {
  d.child.kill('SIGTERM');
  await once(d.child, 'exit');
  return d.output();
}

describe.skipIf(redisCliTool.missing)(`daemon logs${note}`, () => {
  it('--log-format json: every stderr line is one JSON event; changes and refusals are logged', async () => {
    const { running, ports } = await daemon(['--log-format', 'json', '--log-level', 'debug']);
    await redisCli(ports.resp, 'add upstream ups0');
    await redisCli(ports.resp, 'add upstream ups0');
    await redisCli(ports.resp, 'list upstream');
    const events = (await stop(running))
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const names = events.map((e) => e.event);
    expect(names).toEqual(
      expect.arrayContaining([
        'controller-listening',
        'daemon-started',
        'command',
        'command-refused',
        'daemon-stopped',
      ]),
    );
    expect(events.filter((e) => e.event === 'command')).toEqual([
      expect.objectContaining({ level: 'info', origin: 'resp', command: 'add upstream ups0' }),
    ]);
    expect(events.find((e) => e.event === 'command-refused')).toMatchObject({
      level: 'debug',
      code: 'ERR_ALREADY_EXISTS',
    });
    // Reads are not changes: `list upstream` is in no log line.
    expect(running.output()).not.toMatch(/list upstream/);
  });

  it('VPROXY_LOG sets the default level; --log-level wins over it', async () => {
    const quiet = await daemon([], { VPROXY_LOG: 'warn' });
    const quietOut = await stop(quiet.running);
    expect(quietOut).toMatch(/started; /);
    expect(quietOut).not.toMatch(/INFO/);
    const loud = await daemon(['--log-level', 'info'], { VPROXY_LOG: 'off' });
    expect(await stop(loud.running)).toMatch(/INFO {2}daemon-started /);
  });
});
