import { afterEach, describe, expect, it } from 'vitest';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import { LocalEventLoop } from '../../../src/lb/event-loop.js';
import { EventLoopGroup } from '../../../src/lb/event-loop-group.js';
import type { HealthCheckConfig } from '../../../src/lb/health-config.js';
import { ServerPicker } from '../../../src/lb/picker.js';
import { METHOD_NAMES } from '../../../src/lb/selection-method.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { FakeClock, fakeRegistry, seededRandom } from './fakes.js';

const NONE: HealthCheckConfig = {
  timeoutMs: 100,
  periodMs: 1000,
  up: 1,
  down: 1,
  check: { kind: 'none' },
};
const TCP: HealthCheckConfig = {
  timeoutMs: 100,
  periodMs: 1000,
  up: 2,
  down: 2,
  check: { kind: 'tcp' },
};

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

/** A group whose tcp checks run over the fake transport on a fake clock. */
function checkedGroup(method: (typeof METHOD_NAMES)[number] = 'wrr') {
  const clock = new FakeClock();
  const down = new Set<string>();
  const elg = new EventLoopGroup('elg', { createLoop: (n) => new LocalEventLoop(n, clock) });
  elg.add('loop-0');
  elg.add('loop-1');
  const group = new ServerGroup({
    name: 'checked',
    method,
    healthCheck: TCP,
    registry: fakeRegistry(down),
    eventLoopGroup: elg,
  });
  cleanup.push(async () => {
    await group.close();
    await elg.close();
  });
  return { clock, down, elg, group };
}

function plainGroup(method: (typeof METHOD_NAMES)[number] = 'wrr'): ServerGroup {
  const group = new ServerGroup({
    name: `plain-${method}`,
    method,
    healthCheck: NONE,
    random: seededRandom(3),
  });
  cleanup.push(() => group.close());
  return group;
}

const fakeClient = (remoteAddress: string) => ({ remoteAddress }) as unknown as StreamFD;

describe('ServerGroup', () => {
  it('servers start DOWN; health checks bring them UP; DOWN servers are skipped', async () => {
    const { clock, down, group } = checkedGroup();
    const events: string[] = [];
    group.on('up', (s) => events.push(`up ${s.name}`));
    group.on('down', (s) => events.push(`down ${s.name}`));
    group.add('a', 'fake://a:1');
    group.add('b', 'fake://b:1');
    expect(group.next()).toBeNull();
    await clock.advance(1000); // two probes each (up = 2)
    expect(events.sort()).toEqual(['up a', 'up b']);
    down.add('a');
    await clock.advance(2000);
    expect(events.slice(2)).toEqual(['down a']);
    for (let i = 0; i < 20; i++) expect(group.next()?.name).toBe('b');
    down.delete('a');
    await clock.advance(2000);
    const picked = new Set(Array.from({ length: 20 }, () => group.next()?.name));
    expect(picked).toEqual(new Set(['a', 'b']));
  });

  it('health checks are spread over the loops and move when a loop is removed', async () => {
    const { clock, elg, group } = checkedGroup();
    for (const n of ['a', 'b', 'c', 'd']) group.add(n, `fake://${n}:1`);
    const per = () => elg.list().map((l) => l.resources().length);
    expect(per()).toEqual([2, 2]);
    await clock.advance(1000);
    expect(group.servers().every((s) => s.healthy)).toBe(true);
    await elg.remove('loop-0');
    expect(per()).toEqual([4]);
    expect(group.servers().every((s) => s.health.running && s.healthy)).toBe(true);
    elg.add('loop-2'); // a new loop takes its share again
    expect(per()).toEqual([2, 2]);
    await elg.close();
    expect(group.servers().some((s) => s.health.running)).toBe(false);
    expect(clock.pending).toBe(0);
  });

  it('weight 0 drains: no new picks, existing connections untouched', () => {
    for (const method of METHOD_NAMES) {
      const group = plainGroup(method);
      const a = group.add('a', 'tcp://10.0.0.1:80');
      group.add('b', 'tcp://10.0.0.2:80');
      const leases = Array.from({ length: 10 }, () => a.acquire());
      group.setWeight('a', 0);
      for (let i = 0; i < 200; i++) expect(group.next(`10.9.0.${i}`)?.name).toBe('b');
      expect(a.activeConnections).toBe(10);
      for (const l of leases) l.release();
      expect(a.activeConnections).toBe(0);
      group.setWeight('b', 0);
      expect(group.next('10.9.0.1')).toBeNull();
      expect(group.available).toBe(false);
    }
  });

  it('servers can be added, removed and re-weighted between any two picks', () => {
    for (const method of METHOD_NAMES) {
      const group = plainGroup(method);
      const rnd = seededRandom(11);
      const live = new Map<string, number>();
      let added = 0;
      const leases: { release(): void }[] = [];
      for (let step = 0; step < 5000; step++) {
        const r = rnd();
        if (r < 0.02 || live.size === 0) {
          const name = `s${added++}`;
          const w = Math.floor(rnd() * 4);
          group.add(name, `tcp://10.1.0.${added % 250}:80`, w);
          live.set(name, w);
        } else if (r < 0.035) {
          const names = [...live.keys()];
          const name = names[Math.floor(rnd() * names.length)] as string;
          group.remove(name);
          live.delete(name);
        } else if (r < 0.05) {
          const names = [...live.keys()];
          const name = names[Math.floor(rnd() * names.length)] as string;
          const w = Math.floor(rnd() * 4);
          group.setWeight(name, w);
          live.set(name, w);
        }
        const picked = group.next(`10.2.${step >>> 8}.${step & 255}`);
        const anyAvailable = [...live.values()].some((w) => w > 0);
        if (picked === null) {
          expect(anyAvailable, `${method} step ${step}`).toBe(false);
        } else {
          expect(
            live.get(picked.name),
            `${method} picked a removed or drained server`,
          ).toBeGreaterThan(0);
          if (rnd() < 0.5) leases.push(picked.acquire());
          else leases.pop()?.release();
        }
      }
      expect(group.servers().map((s) => s.name)).toEqual([...live.keys()]);
    }
  });

  it('rejects duplicates, unknown names, bad weights, bad methods and bad addresses with typed errors', () => {
    const group = plainGroup();
    group.add('a', 'tcp://10.0.0.1:80');
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return 'no error';
    };
    expect(code(() => group.add('a', 'tcp://10.0.0.2:80'))).toBe('ERR_ALREADY_EXISTS');
    expect(code(() => group.remove('nope'))).toBe('ERR_NOT_FOUND');
    expect(code(() => group.setWeight('nope', 1))).toBe('ERR_NOT_FOUND');
    expect(code(() => group.add('b', 'tcp://10.0.0.2:80', -1))).toBe('ERR_WEIGHT_INVALID');
    expect(code(() => group.add('b', 'tcp://10.0.0.2:80', 1001))).toBe('ERR_WEIGHT_INVALID');
    expect(code(() => group.setWeight('a', 2.5))).toBe('ERR_WEIGHT_INVALID');
    expect(code(() => group.add('b', 'nope'))).toBe('ERR_ADDRESS_INVALID');
    expect(code(() => group.add('', 'tcp://10.0.0.2:80'))).toBe('ERR_NAME_INVALID');
    expect(
      code(() => new ServerGroup({ name: 'x', method: 'rr' as 'wrr', healthCheck: NONE })),
    ).toBe('ERR_METHOD_INVALID');
    expect(code(() => new ServerGroup({ name: 'x', healthCheck: TCP }))).toBe(
      'ERR_HEALTH_CHECK_INVALID',
    );
    expect(group.servers().map((s) => s.name)).toEqual(['a']);
  });

  it('switching the method and the health check at runtime keeps servers and states', async () => {
    const { clock, group } = checkedGroup();
    group.add('a', 'fake://a:1');
    await clock.advance(1000);
    expect(group.get('a')?.healthy).toBe(true);
    group.method = 'wlc';
    expect(group.method).toBe('wlc');
    group.setHealthCheck({ ...TCP, down: 5 });
    expect(group.get('a')?.healthy).toBe(true);
    expect(group.get('a')?.health.config.down).toBe(5);
    group.setHealthCheck(NONE);
    expect(group.get('a')?.healthy).toBe(true);
    expect(clock.pending).toBe(0);
  });
});

describe('ServerPicker (BackendPicker adapter)', () => {
  it('picks by client address and hint, leases the server, reports failures and bytes on release', async () => {
    const { clock, group } = checkedGroup('source');
    group.add('a', 'fake://a:1');
    group.add('b', 'fake://b:1');
    await clock.advance(1000);
    const picker = new ServerPicker(group);
    const context = { client: fakeClient('10.0.0.7'), admission: {} };
    const choice = picker.pick(context);
    expect(choice).not.toBeNull();
    const server = group.servers().find((sv) => sv.address === choice?.address);
    expect(server?.name).toBe(group.next('10.0.0.7')?.name);
    expect(server?.activeConnections).toBe(1);
    // A PROXY-protocol source overrides the socket's address for hashing.
    const viaProxy = picker.pickServer({
      client: fakeClient('127.0.0.1'),
      admission: { source: { host: '10.0.0.7', port: 5555 } },
    });
    expect(viaProxy?.name).toBe(server?.name);
    choice?.release?.({ connected: true, bytesToBackend: 100, bytesFromBackend: 2000 });
    expect(server?.stats()).toMatchObject({ activeConnections: 0, bytesOut: 100, bytesIn: 2000 });

    // A connected backend's bytes count while the session runs, then exactly once at release.
    const live = picker.pick(context);
    const backend = { bytesRead: 0, bytesWritten: 0 };
    live?.connected?.(backend as unknown as Parameters<NonNullable<typeof live.connected>>[0]);
    backend.bytesRead = 500;
    backend.bytesWritten = 7;
    expect(server?.stats()).toMatchObject({ activeConnections: 1, bytesOut: 107, bytesIn: 2500 });
    backend.bytesRead = 600;
    expect(server?.stats().bytesIn).toBe(2600);
    live?.release?.({ connected: true, bytesToBackend: 7, bytesFromBackend: 600 });
    backend.bytesRead = 10_000; // read after release: no longer counted
    expect(server?.stats()).toMatchObject({ activeConnections: 0, bytesOut: 107, bytesIn: 2600 });

    // Passive detection: `down` failed connects take it out before the next probe.
    for (let i = 0; i < 2; i++) {
      picker.pick(context)?.release?.({
        connected: false,
        connectError: new Error('refused'),
        bytesToBackend: 0,
        bytesFromBackend: 0,
      });
    }
    expect(server?.healthy).toBe(false);
    expect(server?.stats().connectFailures).toBe(2);
    expect(picker.pickServer(context)?.name).not.toBe(server?.name);
    // A client that left before the connect finished is not the server's fault.
    const other = picker.pick(context);
    other?.release?.({ connected: false, bytesToBackend: 0, bytesFromBackend: 0 });
    expect(group.servers().find((sv) => sv.address === other?.address)?.healthy).toBe(true);
  });

  it('returns null when nothing is available', () => {
    const group = plainGroup();
    expect(
      new ServerPicker(group).pick({ client: fakeClient('10.0.0.1'), admission: {} }),
    ).toBeNull();
  });

  it('repick (redispatch) never returns a server already tried, by any method, and counts the redispatch', async () => {
    for (const method of METHOD_NAMES) {
      const { clock, group } = checkedGroup(method);
      for (const n of ['a', 'b', 'c']) group.add(n, `fake://${n}:1`);
      await clock.advance(1000);
      const picker = new ServerPicker(group);
      const context = { client: fakeClient('10.0.0.9'), admission: {} };
      for (let i = 0; i < 30; i++) {
        const first = picker.pick(context);
        if (first === null) throw new Error('no pick');
        const second = picker.repick(context, [first.address]);
        if (second === null) throw new Error(`${method}: no repick`);
        expect(second.address).not.toBe(first.address);
        const third = picker.repick(context, [first.address, second.address]);
        expect([first.address, second.address]).not.toContain(third?.address);
        expect(
          picker.repick(
            context,
            group.servers().map((s) => s.address),
          ),
        ).toBeNull();
        for (const c of [first, second, third]) {
          c?.release?.({ connected: true, bytesToBackend: 0, bytesFromBackend: 0 });
        }
      }
      // Source hashing: the client's second choice is stable.
      if (method === 'source') {
        const first = picker.pickServer(context);
        const seconds = new Set(
          Array.from({ length: 5 }, () => picker.pickServer(context, (s) => s === first)?.name),
        );
        expect(seconds.size).toBe(1);
      }
      // The failed lease, released as redispatched, counts on its server.
      const failed = picker.pick(context);
      const server = group.servers().find((sv) => sv.address === failed?.address);
      failed?.release?.({
        connected: false,
        connectError: new Error('refused'),
        redispatched: true,
        bytesToBackend: 0,
        bytesFromBackend: 0,
      });
      expect(server?.stats()).toMatchObject({ redispatches: 1, connectFailures: 1 });
    }
  });
});
