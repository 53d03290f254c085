import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import type { CommandResult } from '../../../src/control/executor.js';
import { ResourceStore } from '../../../src/control/store.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';
import { readAll } from '../../helpers/net.js';
import { until } from '../../helpers/wait.js';
import { firstServerUp } from './server-up.js';

// The executor against a real store: a scripted setup, listings, usage checks,
// save and load round trips, and traffic through what the commands built.

const echo = useEchoBackend();
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-exec-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function setup(echoPort: number): string[] {
  return [
    'add event-loop-group elg0',
    'add event-loop el0 to event-loop-group elg0',
    'add server-group sg0 timeout 3000 period 200 up 1 down 2 method wrr event-loop-group elg0',
    `add server s0 to server-group sg0 address 127.0.0.1:${echoPort} weight 10`,
    'add upstream ups0',
    'add server-group sg0 to upstream ups0 weight 10',
    'add security-group secg0 default allow',
    'add security-group-rule r0 to security-group secg0 network 10.0.0.0/8 protocol tcp port-range 0,65535 default deny',
    'add tcp-lb lb0 address 127.0.0.1:0 upstream ups0 security-group secg0 timeout 60000',
  ];
}

async function runAll(ex: StoreExecutor, lines: string[]): Promise<CommandResult[]> {
  const out: CommandResult[] = [];
  for (const line of lines) out.push(await ex.execute(line, 'stdio'));
  return out;
}

function items(r: CommandResult): readonly unknown[] {
  if (r.kind !== 'list') throw new Error(`expected a list, got ${r.kind}`);
  return r.items;
}

describe('StoreExecutor', () => {
  it('builds a working tcp-lb from commands and lists it', async () => {
    const store = new ResourceStore(createDefaultRegistry());
    const ex = new StoreExecutor({ store });
    expect((await runAll(ex, setup(echo.port))).every((r) => r.kind === 'done')).toBe(true);
    const detail = items(await ex.execute('L tl', 'stdio'));
    expect(detail[0]).toMatch(
      /^lb0 -> acceptor \(acceptor-elg\) worker \(worker-elg\) bind 127\.0\.0\.1:\d+ address 127\.0\.0\.1:0 backends ups0 timeout 60000 fin-timeout 30000 retries 2 access-log off in-buffer-size 16384 out-buffer-size 16384 protocol tcp security-group secg0$/,
    );
    expect(items(await ex.execute('list-detail server-group', 'stdio'))).toEqual([
      'sg0 -> timeout 3000 period 200 up 1 down 2 method wrr check tcp event-loop-group elg0',
    ]);
    expect(items(await ex.execute('L secgr in secg secg0', 'stdio'))).toEqual([
      'r0 -> deny 10.0.0.0/8 protocol TCP port [0,65535]',
    ]);
    // Wait for the health check, then send traffic through.
    const port = Number(/bind 127\.0\.0\.1:(\d+)/.exec(String(detail[0]))?.[1]);
    await firstServerUp(ex, 'sg0');
    const client = await store.registry.connect(`127.0.0.1:${port}`);
    const reply = readAll(client);
    client.write('through the lb');
    // The lb accepts and dials on its own schedule: poll for the session and both of its
    // connections (a fixed sleep can end first on a loaded machine), then check both.
    const number = async (line: string) => {
      const r = await ex.execute(line, 'stdio');
      return r.kind === 'number' ? r.value : Number.NaN;
    };
    await until(
      'one session, two connections',
      async () =>
        (await number('list session in tcp-lb lb0')) >= 1 &&
        (await number('list connection in tl lb0')) >= 2,
      10_000,
    );
    expect(await ex.execute('list session in tcp-lb lb0', 'stdio')).toEqual({
      kind: 'number',
      value: 1,
    });
    expect(await ex.execute('list connection in tl lb0', 'stdio')).toEqual({
      kind: 'number',
      value: 2,
    });
    client.end();
    expect((await reply).toString()).toBe('through the lb');
    const bytes = await ex.execute(
      `list bytes-in in server-sock 127.0.0.1:${port} in tcp-lb lb0`,
      'stdio',
    );
    expect(bytes).toEqual({ kind: 'number', value: 14 });
    await store.close();
  });

  it('refuses removals of resources in use, then allows them in order', async () => {
    const store = new ResourceStore(createDefaultRegistry());
    const ex = new StoreExecutor({ store });
    await runAll(ex, setup(echo.port));
    await expect(ex.execute('remove upstream ups0', 'stdio')).rejects.toThrow(
      'upstream ups0 is used by tcp-lb lb0',
    );
    await expect(ex.execute('remove server-group sg0', 'stdio')).rejects.toThrow(
      'server-group sg0 is used by upstream ups0',
    );
    await expect(ex.execute('remove security-group secg0', 'stdio')).rejects.toThrow(
      'security-group secg0 is used by tcp-lb lb0',
    );
    await expect(ex.execute('remove event-loop-group (worker-elg)', 'stdio')).rejects.toThrow(
      'cannot remove a default event loop group (worker-elg)',
    );
    await expect(ex.execute('add upstream ups0', 'stdio')).rejects.toThrow(
      'Duplicated entry for upstream with ups0.',
    );
    await expect(ex.execute('remove upstream nope', 'stdio')).rejects.toThrow(
      'Cannot find upstream with name nope.',
    );
    for (const line of [
      'remove tcp-lb lb0',
      'remove upstream ups0',
      'remove server-group sg0',
      'remove security-group secg0',
      'remove event-loop-group elg0',
    ]) {
      expect(await ex.execute(line, 'stdio')).toEqual({ kind: 'done' });
    }
    expect(await ex.execute('list config', 'stdio')).toEqual({
      kind: 'lines',
      lines: ['# Generated by vproxy-ts 0.1.0'],
    });
    await store.close();
  });

  it('save then load in a fresh store gives the same config', async () => {
    const first = new ResourceStore(createDefaultRegistry());
    const ex1 = new StoreExecutor({ store: first });
    await runAll(ex1, [...setup(echo.port), 'update server s0 in server-group sg0 weight 3']);
    const file = join(dir, 'saved.conf');
    await ex1.execute(`save ${file}`, 'stdio');
    const config1 = await ex1.execute('list config', 'stdio');
    await first.close();

    const second = new ResourceStore(createDefaultRegistry());
    const ex2 = new StoreExecutor({ store: second });
    expect(await ex2.execute(`load ${file}`, 'stdio')).toEqual({ kind: 'number', value: 9 });
    expect(await ex2.execute('list config', 'stdio')).toEqual(config1);
    await second.close();
  });

  it('keeps file commands and shutdown off remote controllers', async () => {
    const store = new ResourceStore(createDefaultRegistry());
    const ex = new StoreExecutor({ store });
    await expect(ex.execute(`save ${join(dir, 'x')}`, 'resp')).rejects.toThrow(
      /only allowed via StdIOController/,
    );
    await expect(ex.execute('shutdown', 'http')).rejects.toThrow(
      /only call shutdown via StdIOController/,
    );
    await store.close();
  });
});
