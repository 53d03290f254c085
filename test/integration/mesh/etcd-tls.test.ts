import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdRegistry } from '../../../src/mesh/etcd-registry.js';
import { SmartNodeDelegate } from '../../../src/mesh/node-delegate.js';
import { makeTestCerts, type TestCerts } from '../../helpers/certs.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { EtcdCluster } from './etcd-cluster.js';

// EtcdRegistry over TLS to an etcd that requires client certificates.

const etcd = requireTool('etcd');
let baseline: string[];
let certs: TestCerts | undefined;
let cluster: EtcdCluster | undefined;

beforeAll(async () => {
  baseline = snapshotSockets();
  if (etcd.missing) return;
  certs = makeTestCerts();
  cluster = await EtcdCluster.start(etcd.path, 1, {
    cert: certs.cert,
    key: certs.key,
    clientCa: certs.caCert,
  });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
  certs?.dispose();
  await expectNoLeakedSockets(baseline, 5000);
}, 60_000);

describe.skipIf(etcd.missing)(`EtcdRegistry over TLS${skipNote(etcd)}`, () => {
  it('registers and lists with a CA and a client certificate', async () => {
    const c = certs as TestCerts;
    const r = new EtcdRegistry({
      endpoints: (cluster as EtcdCluster).endpoints,
      leaseTtlSeconds: 2,
      tls: { ca: readFileSync(c.caCert), cert: readFileSync(c.cert), key: readFileSync(c.key) },
    });
    const d = new SmartNodeDelegate({
      registry: r,
      service: 'tls',
      zone: 'z',
      address: '10.0.0.4',
      port: 443,
    });
    await d.written();
    expect((await r.list('tls', 'z')).entries.map((e) => e.port)).toEqual([443]);
    expect(r.connection).toBe('connected');
    await d.close();
    expect((await r.list('tls', 'z')).entries).toEqual([]);
    await r.close();
  });

  it('without a client certificate the registry stays unavailable', async () => {
    const r = new EtcdRegistry({
      endpoints: (cluster as EtcdCluster).endpoints,
      requestTimeoutMs: 500,
      tls: { ca: readFileSync((certs as TestCerts).caCert) },
    });
    try {
      await expect(r.list('tls', 'z')).rejects.toMatchObject({ code: 'ERR_MESH_UNAVAILABLE' });
      expect(r.connection).toBe('unavailable');
    } finally {
      await r.close();
    }
  });
});
