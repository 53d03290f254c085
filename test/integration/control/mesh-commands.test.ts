import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/control/command/parse.js';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import type { CommandResult } from '../../../src/control/executor.js';
import { StoreMetrics } from '../../../src/control/observability/metrics.js';
import { ResourceStore } from '../../../src/control/store.js';
import { systemClock } from '../../../src/lb/clock.js';
import { MemoryRegistry } from '../../../src/mesh/memory-registry.js';
import { MemoryStore } from '../../../src/mesh/memory-store.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { useEchoBackend } from '../../helpers/echo-fixture.js';

// smart-node-delegate and smart-group-delegate through the executor: two
// stores on one in-process registry play two daemons. What is added on one
// shows in the other's group; list-detail, usage checks and the saved config.

const echo = useEchoBackend();
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function daemon(shared: MemoryStore): { ex: StoreExecutor; store: ResourceStore } {
  const mesh = new MemoryRegistry({ store: shared, leaseTtlMs: 2000 });
  const store = new ResourceStore(createDefaultRegistry(), undefined, mesh);
  cleanup.push(() => store.close());
  return { ex: new StoreExecutor({ store }), store };
}

function items(r: CommandResult): readonly unknown[] {
  if (r.kind !== 'list') throw new Error(`expected a list, got ${r.kind}`);
  return r.items;
}

// Seconds of slack: the deadline only has to tell 'never' from 'late on a loaded machine'.
async function until(what: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('mesh commands', () => {
  it('parses the reference syntax, short names and refuses nonsense', () => {
    expect(
      parseCommand(
        'add smart-node-delegate n0 service web zone z1 nic lo port 80 ip-type v4 weight 5',
      ).params,
    ).toMatchObject({ service: 'web', zone: 'z1', nic: 'lo', port: '80', 'ip-type': 'v4' });
    expect(parseCommand('a snd n1 service web zone z1 address ::1 port 80').type).toBe(
      'smart-node-delegate',
    );
    expect(parseCommand('add sgd g0 service web zone z1 server-group sg0').type).toBe(
      'smart-group-delegate',
    );
    expect(() => parseCommand('add snd n0 service web zone z1 address example.com')).toThrow(
      /invalid address example.com: expected an IP address/,
    );
    expect(() => parseCommand('add snd n0 service a/b zone z1 nic lo')).toThrow(/invalid service/);
    expect(() => parseCommand('add sgd g0 service web zone z1')).toThrow(
      /missing argument server-group/,
    );
    expect(() => parseCommand('update sgd g0 weight 3')).toThrow(/unsupported action update/);
  });

  it('a node delegate on one daemon fills a group on the other; remove takes it out', async () => {
    const shared = new MemoryStore(systemClock);
    const a = daemon(shared);
    const b = daemon(shared);
    await b.ex.execute('add server-group sg0 timeout 500 period 200 up 1 down 2', 'stdio');
    await b.ex.execute(
      'add smart-group-delegate g0 service echo zone z1 server-group sg0',
      'stdio',
    );
    await expect(
      a.ex.execute(
        'add smart-node-delegate n0 service echo zone z1 address 127.0.0.1 nic lo',
        'http',
      ),
    ).rejects.toThrow(/give exactly one of nic, address/);
    await a.ex.execute(
      `add smart-node-delegate n0 service echo zone z1 address 127.0.0.1 port ${echo.port} weight 7`,
      'http',
    );
    await expect(
      a.ex.execute(
        `add smart-node-delegate n9 service echo zone z1 address 127.0.0.1 port ${echo.port}`,
        'resp',
      ),
    ).rejects.toThrow(/smart-node-delegate n0 already publishes \/vproxy\/services\/echo\/z1\//);
    const group = b.store.serverGroups.get('sg0')?.group;
    await until(() => (group?.servers().length ?? 0) === 1);
    const metrics = await new StoreMetrics(b.store, 'test').metrics();
    expect(metrics).toMatch(
      /vproxy_mesh_group_servers\{delegate="g0",service="echo",zone="z1",group="sg0"\} 1/,
    );
    expect(metrics).toContain('vproxy_mesh_registry_connected{backend="memory"} 1');
    const [line] = items(await b.ex.execute('list-detail server in server-group sg0', 'stdio'));
    expect(line).toMatch(
      new RegExp(
        `^echo@127\\.0\\.0\\.1:${echo.port} -> connect-to tcp://127\\.0\\.0\\.1:${echo.port} weight 7 currently (UP|DOWN) from smart-group-delegate g0$`,
      ),
    );
    const [nd] = items(await a.ex.execute('L snd', 'stdio'));
    expect(nd).toMatch(
      new RegExp(
        `^n0 -> service echo zone z1 address 127\\.0\\.0\\.1 port ${echo.port} ip-type v4 weight 7 state (connecting|connected) `,
      ),
    );
    const gd = await b.ex.execute('list-detail smart-group-delegate', 'http');
    if (gd.kind !== 'list' || gd.details?.kind !== 'smart-group-delegate')
      throw new Error('no records');
    expect(gd.details.records[0]).toMatchObject({ servers: 1, 'server-group': 'sg0' });

    await a.ex.execute('update smart-node-delegate n0 weight 3', 'stdio');
    await until(() => group?.servers()[0]?.weight === 3);

    // In use by the delegate: the group stays; the saved config holds the
    // delegates, not the servers they brought.
    await expect(b.ex.execute('remove server-group sg0', 'stdio')).rejects.toThrow(
      /server-group sg0 is used by smart-group-delegate g0/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'vproxy-mesh-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    await b.ex.save(join(dir, 'b'));
    await a.ex.save(join(dir, 'a'));
    const bText = readFileSync(join(dir, 'b'), 'utf8');
    expect(bText).toContain('add smart-group-delegate g0 service echo zone z1 server-group sg0\n');
    expect(bText).not.toContain('add server echo@');
    expect(readFileSync(join(dir, 'a'), 'utf8')).toContain(
      `add smart-node-delegate n0 service echo zone z1 address 127.0.0.1 port ${echo.port} weight 3\n`,
    );
    // The saved config loads into a fresh daemon.
    const c = daemon(shared);
    expect(await c.ex.load(join(dir, 'b'))).toBe(2);
    await until(() => (c.store.serverGroups.get('sg0')?.group.servers().length ?? 0) === 1);

    await a.ex.execute('remove smart-node-delegate n0', 'stdio');
    await until(() => group?.servers().length === 0);
    await b.ex.execute('remove smart-group-delegate g0', 'stdio');
    await b.ex.execute('remove server-group sg0', 'stdio');
  });

  it('port 0 picks a free port in 10000-29999, saved as picked', async () => {
    const a = daemon(new MemoryStore(systemClock));
    await a.ex.execute(
      'add smart-node-delegate n0 service s zone z address 127.0.0.1 port 0',
      'stdio',
    );
    const port = a.store.nodeDelegates.get('n0')?.delegate.instance.port ?? 0;
    expect(port).toBeGreaterThanOrEqual(10_000);
    expect(port).toBeLessThan(30_000);
    const config = await a.ex.execute('list config', 'stdio');
    expect(config.kind === 'lines' ? config.lines : []).toContain(
      `add smart-node-delegate n0 service s zone z address 127.0.0.1 port ${port} weight 10`,
    );
  });
});
