import { afterEach, describe, expect, it } from 'vitest';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { SmartGroupDelegate } from '../../../src/mesh/group-delegate.js';
import { MemoryRegistry } from '../../../src/mesh/memory-registry.js';
import { MemoryStore } from '../../../src/mesh/memory-store.js';
import { SmartNodeDelegate } from '../../../src/mesh/node-delegate.js';
import { isRegistrySourced, registrySource } from '../../../src/mesh/sourced.js';
import { FakeClock } from '../lb/fakes.js';

// The delegates against the in-process registry on a fake clock: lease
// expiry, re-registration, re-list after compaction, outages, re-weighting.

const TTL = 3000;
let closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of closers.reverse()) await c();
  closers = [];
});

function world() {
  const clock = new FakeClock();
  const store = new MemoryStore(clock);
  closers.push(async () => store.close());
  const client = (): MemoryRegistry => {
    const r = new MemoryRegistry({ store, leaseTtlMs: TTL });
    closers.push(() => r.close({ graceful: false }));
    return r;
  };
  const group = (name: string): ServerGroup => {
    const g = new ServerGroup({
      name,
      healthCheck: { timeoutMs: 1000, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
    });
    closers.push(() => g.close());
    return g;
  };
  const follow = (registry: MemoryRegistry, g: ServerGroup, service = 'web', zone = 'z1') => {
    const d = new SmartGroupDelegate({ registry, service, zone, group: g, clock });
    closers.push(() => d.close());
    return d;
  };
  const node = (registry: MemoryRegistry, port: number, weight = 10, service = 'web') => {
    const d = new SmartNodeDelegate({
      registry,
      service,
      zone: 'z1',
      address: '127.0.0.1',
      port,
      weight,
    });
    closers.push(() => d.close());
    return d;
  };
  return { clock, store, client, group, follow, node };
}

const names = (g: ServerGroup) =>
  g
    .servers()
    .map((s) => s.name)
    .sort();

describe('SmartNodeDelegate + SmartGroupDelegate on the memory registry', () => {
  it('a registered node appears in the group, marked as from the registry', async () => {
    const w = world();
    const b = w.follow(w.client(), w.group('g'));
    const a = w.node(w.client(), 8080, 20);
    await w.clock.advance(1);
    expect(a.state).toBe('connected');
    expect(names(b.group)).toEqual(['web@127.0.0.1:8080']);
    const server = b.group.get('web@127.0.0.1:8080');
    expect(server?.weight).toBe(20);
    expect(server && isRegistrySourced(server)).toBe(true);
    expect(server && registrySource(server)?.key).toBe('/vproxy/services/web/z1/127.0.0.1:8080');
    expect(b.status()).toMatchObject({ state: 'connected', servers: 1, registry: 'connected' });
    expect(a.status()).toMatchObject({ state: 'connected', writes: 1 });
  });

  it('lease expiry removes a node whose owner died, within the TTL', async () => {
    const w = world();
    const b = w.follow(w.client(), w.group('g'));
    const ra = w.client();
    w.node(ra, 8080);
    await w.clock.advance(1);
    expect(names(b.group)).toHaveLength(1);
    await ra.close({ graceful: false }); // kill -9: no delete, no revoke
    await w.clock.advance(TTL - 10);
    expect(names(b.group)).toHaveLength(1);
    await w.clock.advance(20);
    expect(names(b.group)).toEqual([]);
  });

  it('a crashed daemon with several instances loses them all in one revision', async () => {
    const w = world();
    const g = w.group('g');
    const b = w.follow(w.client(), g);
    const ra = w.client();
    for (const port of [8080, 8081, 8082]) w.node(ra, port);
    w.node(w.client(), 9000);
    await w.clock.advance(1);
    expect(names(g)).toHaveLength(4);
    await ra.close({ graceful: false });
    await w.clock.advance(TTL + 10);
    expect(names(g)).toEqual(['web@127.0.0.1:9000']);
    expect(b.status().revision).toBe(w.store.revision);
  });

  it('churn leaves nothing behind: maps and history stay bounded', async () => {
    const w = world();
    const g = w.group('g');
    const b = w.follow(w.client(), g);
    const r = w.client();
    for (let round = 0; round < 200; round++) {
      const ds = [0, 1, 2, 3, 4].map(
        (k) =>
          new SmartNodeDelegate({
            registry: r,
            service: 'web',
            zone: 'z1',
            address: '127.0.0.1',
            port: 10_000 + ((round * 5 + k) % 50),
          }),
      );
      await w.clock.advance(1);
      ds[0]?.setWeight(round % 100);
      await w.clock.advance(1);
      await Promise.all(ds.map((d) => d.close()));
      await w.clock.advance(1);
    }
    expect(names(g)).toEqual([]);
    expect(b.status()).toMatchObject({ servers: 0, state: 'connected' });
    const stats = w.store.stats();
    expect(stats.keys).toBe(0);
    expect(stats.leases).toBeLessThanOrEqual(4); // one per client, at most
    expect(stats.watchers).toBe(1);
  });

  it('keepalives hold a node for many TTLs; a clean close removes it at once', async () => {
    const w = world();
    const b = w.follow(w.client(), w.group('g'));
    const a = w.node(w.client(), 8080);
    await w.clock.advance(10 * TTL);
    expect(names(b.group)).toHaveLength(1);
    await a.close();
    await w.clock.advance(1);
    expect(names(b.group)).toEqual([]);
  });

  it('re-registers after the lease is lost (revoked server-side)', async () => {
    const w = world();
    const b = w.follow(w.client(), w.group('g'));
    const ra = w.client();
    const a = w.node(ra, 8080);
    await w.clock.advance(1);
    const lease = ra.leaseId;
    expect(lease).toBeDefined();
    w.store.revoke(lease as string);
    await w.clock.advance(1);
    expect(names(b.group)).toEqual([]); // the revoke deleted the key...
    await w.clock.advance(TTL); // ...the next keepalive finds the lease gone and registers again
    expect(a.state).toBe('connected');
    expect(a.status().writes).toBe(2);
    expect(ra.leaseId).not.toBe(lease);
    expect(names(b.group)).toEqual(['web@127.0.0.1:8080']);
  });

  it("a daemon's own lost registration does not leave its own group while it is written again", async () => {
    const w = world();
    const r = w.client(); // one daemon: its node delegate and its group delegate share the client
    const b = w.follow(r, w.group('g'));
    const other = w.client();
    w.node(r, 8080);
    const theirs = w.node(other, 8081);
    await w.clock.advance(1);
    const mine = b.group.get('web@127.0.0.1:8080');
    expect(names(b.group)).toEqual(['web@127.0.0.1:8080', 'web@127.0.0.1:8081']);
    w.store.revoke(r.leaseId as string);
    await w.clock.advance(1);
    // The key is gone from the registry, but this client holds it and writes it again.
    expect(b.group.get('web@127.0.0.1:8080')).toBe(mine);
    expect(b.status().keptOwn).toBe(1);
    await w.clock.advance(TTL);
    expect(b.group.get('web@127.0.0.1:8080')).toBe(mine); // the very server: health kept
    // Another client's key, and a key this client deregisters, leave at once.
    await theirs.close();
    await w.clock.advance(1);
    expect(names(b.group)).toEqual(['web@127.0.0.1:8080']);
  });

  it('an outage freezes the group as it was; the end of it converges', async () => {
    const w = world();
    const g = w.group('g');
    const rb = w.client();
    const b = w.follow(rb, g);
    const ra = w.client();
    w.node(ra, 8080);
    const leaving = w.node(ra, 8081);
    await w.clock.advance(1);
    expect(names(g)).toHaveLength(2);
    expect(ra.status()).toMatchObject({ connection: 'connected', registrations: 2, watches: 0 });
    expect(rb.status()).toMatchObject({ registrations: 0, watches: 1, leaseId: undefined });
    w.store.setAvailable(false);
    await w.clock.advance(1);
    expect(b.state).toBe('frozen');
    expect(b.status().registry).toBe('unavailable');
    expect(rb.status().connectionChanges).toBe(1);
    // Nothing moves while the registry is out, however long: no lease expires, nothing empties.
    const closing = leaving.close(); // its delete cannot land now
    const late = w.node(w.client(), 8082); // cannot register now
    await w.clock.advance(5 * TTL);
    expect(names(g)).toHaveLength(2);
    expect(late.state).toBe('connecting');
    w.store.setAvailable(true);
    await w.clock.advance(1100);
    await closing;
    expect(b.state).toBe('connected');
    expect(late.state).toBe('connected');
    expect(names(g)).toEqual(['web@127.0.0.1:8080', 'web@127.0.0.1:8082']);
  });

  it('re-lists after compaction when the watch was cancelled behind it', async () => {
    const w = world();
    const g = w.group('g');
    const b = w.follow(w.client(), g);
    const ra = w.client();
    const a1 = w.node(ra, 8080);
    await w.clock.advance(1);
    // The server cancels the watch; history the view has not seen is compacted
    // away before it can watch again, so it must list.
    w.store.cancelWatches();
    const a2 = w.node(ra, 8081);
    await a1.close();
    await a2.written();
    w.store.compact();
    await w.clock.advance(1000);
    expect(b.status().relists).toBeGreaterThanOrEqual(1);
    expect(names(g)).toEqual(['web@127.0.0.1:8081']);
    expect(b.state).toBe('connected');
    // And the new watch carries on.
    w.node(ra, 8082);
    await w.clock.advance(1);
    expect(names(g)).toEqual(['web@127.0.0.1:8081', 'web@127.0.0.1:8082']);
  });

  it('a watch starting at a compacted revision ends compacted', async () => {
    const w = world();
    const r = w.client();
    w.node(r, 8080);
    await w.clock.advance(1);
    w.store.compact();
    const ended: string[] = [];
    r.watch('web', 'z1', 1, { onEvents: () => {}, onEnd: (reason) => ended.push(reason) });
    await w.clock.advance(1);
    expect(ended).toEqual(['compacted']);
  });

  it('re-weighting a node re-weights the server; 0 drains it', async () => {
    const w = world();
    const g = w.group('g');
    w.follow(w.client(), g);
    const a = w.node(w.client(), 8080, 10);
    await w.clock.advance(1);
    a.setWeight(50);
    await w.clock.advance(1);
    expect(g.get('web@127.0.0.1:8080')?.weight).toBe(50);
    a.setWeight(0);
    await w.clock.advance(1);
    expect(g.get('web@127.0.0.1:8080')?.weight).toBe(0);
    expect(g.available).toBe(false);
    expect(a.status().writes).toBe(3);
  });

  it('two group delegates on one service agree; two node delegates on one service both show', async () => {
    const w = world();
    const g1 = w.group('g1');
    const g2 = w.group('g2');
    w.follow(w.client(), g1);
    w.follow(w.client(), g2);
    const other = w.group('other');
    w.follow(w.client(), other, 'api');
    w.node(w.client(), 8080);
    w.node(w.client(), 8081, 30);
    w.node(w.client(), 9000, 10, 'api');
    await w.clock.advance(1);
    expect(names(g1)).toEqual(['web@127.0.0.1:8080', 'web@127.0.0.1:8081']);
    expect(names(g2)).toEqual(names(g1));
    expect(g2.get('web@127.0.0.1:8081')?.weight).toBe(30);
    expect(names(other)).toEqual(['api@127.0.0.1:9000']);
  });

  it('closing a group delegate removes its servers and leaves hand-added ones', async () => {
    const w = world();
    const g = w.group('g');
    g.add('manual', '127.0.0.1:1');
    const b = w.follow(w.client(), g);
    w.node(w.client(), 8080);
    await w.clock.advance(1);
    expect(names(g)).toEqual(['manual', 'web@127.0.0.1:8080']);
    await b.close();
    expect(names(g)).toEqual(['manual']);
  });

  it('with a local check, an instance is published only while its port answers', async () => {
    const w = world();
    const g = w.group('g');
    w.follow(w.client(), g);
    let answering = false;
    const probed: number[] = [];
    const a = new SmartNodeDelegate({
      registry: w.client(),
      service: 'web',
      zone: 'z1',
      address: '127.0.0.1',
      port: 8080,
      localCheck: { periodMs: 10_000, timeoutMs: 1000 },
      clock: w.clock,
      probe: async (host, port) => {
        probed.push(port);
        return answering && host === '127.0.0.1';
      },
    });
    closers.push(() => a.close());
    await w.clock.advance(1);
    expect(a.state).toBe('down');
    expect(names(g)).toEqual([]);
    answering = true;
    await w.clock.advance(10_000);
    expect(a.state).toBe('connected');
    expect(a.status().local).toBe('up');
    expect(names(g)).toEqual(['web@127.0.0.1:8080']);
    answering = false;
    await w.clock.advance(10_000);
    expect(a.state).toBe('down');
    expect(names(g)).toEqual([]);
    answering = true;
    await w.clock.advance(10_000);
    expect(names(g)).toEqual(['web@127.0.0.1:8080']);
    expect(a.status().writes).toBe(2);
    expect(probed).toEqual([8080, 8080, 8080, 8080]);
  });

  it('single-node use: a registry with its own store serves its own delegates', async () => {
    const clock = new FakeClock();
    const r = new MemoryRegistry({ clock, leaseTtlMs: TTL });
    const g = new ServerGroup({
      name: 'solo',
      healthCheck: { timeoutMs: 1000, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
    });
    const b = new SmartGroupDelegate({ registry: r, service: 'web', zone: 'z1', group: g, clock });
    const a = new SmartNodeDelegate({
      registry: r,
      service: 'web',
      zone: 'z1',
      address: '::1',
      port: 80,
    });
    await clock.advance(1);
    expect(names(g)).toEqual(['web@[::1]:80']);
    expect(g.get('web@[::1]:80')?.addressText).toBe('tcp://[::1]:80');
    await a.close();
    await b.close();
    await r.close();
    await g.close();
    expect(clock.pending).toBe(0);
  });

  it('a name already in the group by hand is a conflict, not a takeover', async () => {
    const w = world();
    const g = w.group('g');
    g.add('web@127.0.0.1:8080', '127.0.0.1:1');
    const b = w.follow(w.client(), g);
    w.node(w.client(), 8080);
    await w.clock.advance(1);
    expect(b.status().conflicts).toBe(1);
    expect(g.get('web@127.0.0.1:8080')?.addressText).toBe('tcp://127.0.0.1:1');
  });
});
