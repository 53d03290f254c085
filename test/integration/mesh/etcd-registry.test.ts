import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdRegistry } from '../../../src/mesh/etcd-registry.js';
import { SmartNodeDelegate } from '../../../src/mesh/node-delegate.js';
import type { WatchEndReason, WatchEvent } from '../../../src/mesh/registry.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { EtcdCluster } from './etcd-cluster.js';

// EtcdRegistry's primitives against a real etcd: listing with a revision,
// watching from it, a watch from a compacted revision ending, a lease revoked
// behind the client's back being replaced, and a graceful close deleting keys.

const etcd = requireTool('etcd');
let baseline: string[];
let cluster: EtcdCluster | undefined;
let admin: Etcd3 | undefined;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  if (etcd.missing) return;
  cluster = await EtcdCluster.start(etcd.path, 1);
  admin = new Etcd3({ hosts: cluster.endpoints });
}, 60_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  admin?.close();
  await cluster?.close();
  await expectNoLeakedSockets(baseline, 5000);
}, 60_000);

async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
): Promise<number> {
  const start = performance.now();
  while (!(await cond())) {
    if (performance.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - start;
}

describe.skipIf(etcd.missing)(`EtcdRegistry on etcd${skipNote(etcd)}`, () => {
  const client = () => {
    const r = new EtcdRegistry({
      endpoints: (cluster as EtcdCluster).endpoints,
      leaseTtlSeconds: 2,
    });
    closers.push(() => r.close({ graceful: false }));
    return r;
  };
  const value = (port: number, weight = 10) =>
    JSON.stringify({
      v: 1,
      nodeId: `10.0.0.1:${port}`,
      address: '10.0.0.1',
      port,
      weight,
      meta: {},
    });

  it('lists at a revision and watches from the next one; unreadable values are skipped', async () => {
    const r = client();
    const kv = admin as Etcd3;
    await kv.put('/vproxy/services/api/z/10.0.0.1:1').value(value(1));
    await kv.put('/vproxy/services/api/z/bad').value('{not json');
    await kv.put('/vproxy/services/api/z/future').value('{"v":2}');
    const listing = await r.list('api', 'z');
    expect(listing.entries.map((e) => e.nodeId)).toEqual(['10.0.0.1:1']);
    const events: WatchEvent[] = [];
    r.watch('api', 'z', listing.revision + 1, {
      onEvents: (e) => events.push(...e),
      onEnd: () => {},
    });
    await kv.put('/vproxy/services/api/z/10.0.0.1:2').value(value(2, 30));
    await kv.delete().key('/vproxy/services/api/z/10.0.0.1:1');
    await kv.put('/vproxy/services/api/other-zone-is-not-here').value(value(3));
    await until('two events', () => events.length >= 2, 3000);
    expect(
      events.map((e) =>
        e.type === 'put' ? `put ${e.entry.nodeId} ${e.entry.weight}` : `delete ${e.nodeId}`,
      ),
    ).toEqual(['put 10.0.0.1:2 30', 'delete 10.0.0.1:1']);
    expect(r.connection).toBe('connected');
  });

  it('a watch from a compacted revision ends, so the view lists again', async () => {
    const r = client();
    const kv = admin as Etcd3;
    const { revision } = await r.list('cmp', 'z');
    await kv.put('/vproxy/services/cmp/z/10.0.0.1:1').value(value(1));
    const put = await kv.put('/vproxy/services/cmp/z/10.0.0.1:2').value(value(2)).exec();
    await kv.kv.compact({ revision: put.header.revision, physical: true });
    const ended: WatchEndReason[] = [];
    r.watch('cmp', 'z', revision + 1, {
      onEvents: () => {},
      onEnd: (reason) => ended.push(reason),
    });
    await until('watch ended', () => ended.length > 0, 3000);
    console.log(`[mesh] watch from compacted revision ${revision + 1}: ended '${ended[0]}'`);
    expect(ended).toEqual(['compacted']);
  });

  it('a lease revoked behind the client is replaced and the instance written again', async () => {
    const r = client();
    const d = new SmartNodeDelegate({
      registry: r,
      service: 'rv',
      zone: 'z',
      address: '10.0.0.9',
      port: 80,
    });
    closers.push(() => d.close());
    await d.written();
    const lease = r.leaseId as string;
    const key = '/vproxy/services/rv/z/10.0.0.9:80';
    const kv = admin as Etcd3;
    expect(await kv.get(key).string()).toContain('"port":80');
    const revokedAt = performance.now();
    await kv.leaseClient.leaseRevoke({ ID: lease });
    expect(await kv.get(key).string()).toBeNull();
    await until('written again', async () => (await kv.get(key).string()) !== null, 5000);
    console.log(
      `[mesh] lease revoked externally -> re-registered in ${(performance.now() - revokedAt).toFixed(0)} ms`,
    );
    // The key shows up in etcd a moment before the write's answer reaches the delegate.
    await until(
      'delegate connected',
      async () => d.state === 'connected' && d.status().writes >= 2,
      5000,
    );
    expect(r.leaseId).not.toBe(lease);
    expect(d.status().writes).toBe(2);
  });

  it('a graceful close revokes the lease: every key of the client goes at once', async () => {
    const r = new EtcdRegistry({
      endpoints: (cluster as EtcdCluster).endpoints,
      leaseTtlSeconds: 30,
    });
    const ds = [1, 2, 3].map(
      (p) =>
        new SmartNodeDelegate({
          registry: r,
          service: 'gc',
          zone: 'z',
          address: '10.0.0.2',
          port: p,
        }),
    );
    await Promise.all(ds.map((d) => d.written()));
    const kv = admin as Etcd3;
    expect(await kv.getAll().prefix('/vproxy/services/gc/').count()).toBe(3);
    await r.close();
    expect(await kv.getAll().prefix('/vproxy/services/gc/').count()).toBe(0);
    expect(r.connection).toBe('closed');
  });

  // Last: it turns authentication on for the cluster.
  it('password auth: the right credentials register and list, wrong ones leave it unavailable', async () => {
    const kv = admin as Etcd3;
    await kv.role('root').create();
    await kv.user('root').create('root-pw');
    await kv.user('root').addRole('root');
    await kv.auth.authEnable({});
    const endpoints = (cluster as EtcdCluster).endpoints;
    const good = new EtcdRegistry({
      endpoints,
      leaseTtlSeconds: 2,
      auth: { username: 'root', password: 'root-pw' },
    });
    closers.push(() => good.close());
    const d = new SmartNodeDelegate({
      registry: good,
      service: 'auth',
      zone: 'z',
      address: '10.0.0.3',
      port: 1,
    });
    await d.written();
    expect((await good.list('auth', 'z')).entries.map((e) => e.nodeId)).toEqual(['10.0.0.3:1']);
    const bad = new EtcdRegistry({
      endpoints,
      leaseTtlSeconds: 2,
      auth: { username: 'root', password: 'nope' },
    });
    closers.push(() => bad.close());
    await until('bad credentials unavailable', () => bad.connection === 'unavailable', 5000);
    await expect(bad.list('auth', 'z')).rejects.toMatchObject({ code: 'ERR_MESH_UNAVAILABLE' });
  });
});
