import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StoreExecutor } from '../../../src/control/command-executor.js';
import type { Socks5ServerDetail } from '../../../src/control/details/records.js';
import { StoreMetrics } from '../../../src/control/observability/metrics.js';
import { ResourceStore } from '../../../src/control/store.js';
import { quietLogger } from '../../../src/fd/logger.js';
import { WorkerHost, type WorkerHostOptions } from '../../../src/workers/host.js';
import type { WorkerEventLoop } from '../../../src/workers/worker-loop.js';
import { createDefaultRegistry } from '../../../transports/default-registry.js';
import { waitFor } from '../../helpers/daemon-processes.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { type Socks5UdpClient, socks5UdpClient } from '../../helpers/socks5-udp-client.js';
import { alive, WORKER_ENTRY } from './fixture.js';

// A socks5-server with allow-udp on a group of two worker processes, run by
// the control plane (executor, /metrics) as the daemon runs it: the UDP
// associations the workers serve and refuse are what list-detail and /metrics
// show (they showed main's own relay set: always 0), a worker killed with -9
// takes its live associations out of the sum and leaves its refusals in it.

let baseline: string[];
let udpEcho: UdpSocket;
let store: ResourceStore | undefined;
const clients: Socks5UdpClient[] = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  udpEcho = createSocket('udp4');
  udpEcho.on('message', (msg, rinfo) => udpEcho.send(msg, rinfo.port, rinfo.address));
  udpEcho.bind(0, '127.0.0.1');
  await once(udpEcho, 'listening');
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await store?.close();
  store = undefined;
});

afterAll(async () => {
  await new Promise<void>((r) => udpEcho.close(() => r()));
  await expectNoLeakedSockets(baseline, 4000);
});

const HOST: WorkerHostOptions = {
  entry: WORKER_ENTRY,
  logLevel: 'error',
  logFormat: 'text',
  logger: quietLogger,
};

/** What the control plane says: list-detail's record and the /metrics series. */
async function views(ex: StoreExecutor, metrics: StoreMetrics) {
  const r = await ex.execute('list-detail socks5-server', 'stdio');
  if (r.kind !== 'list' || r.details?.kind !== 'socks5-server') throw new Error('no records');
  const record = r.details.records[0] as Socks5ServerDetail;
  const text = await metrics.metrics();
  const series = (name: string) =>
    Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${name}{listener="s5"}`))
        ?.split(' ')
        .at(-1),
    );
  return {
    detail: [record['udp-associations'], record['udp-associations-refused']],
    metrics: [
      series('vproxy_socks5_udp_associations'),
      series('vproxy_socks5_udp_associations_refused_total'),
    ],
  };
}

/** Poll the views until both say [alive, refused]. */
async function expectViews(
  ex: StoreExecutor,
  metrics: StoreMetrics,
  want: [number, number],
): Promise<void> {
  let last: unknown;
  await waitFor(`associations ${want.join('/')}`, async () => {
    const v = await views(ex, metrics);
    last = v;
    const same = (a: readonly unknown[]) => a[0] === want[0] && a[1] === want[1];
    return same(v.detail) && same(v.metrics) ? true : undefined;
  }).catch((err: Error) => {
    throw new Error(`${err.message}; last views ${JSON.stringify(last)}`);
  });
}

describe('socks5-server UDP associations on two worker processes', () => {
  it('list-detail and /metrics sum the workers’ associations and refusals; a killed worker’s live ones leave the sum', async () => {
    store = new ResourceStore(createDefaultRegistry());
    store.workers = new WorkerHost(HOST);
    const ex = new StoreExecutor({ store });
    const metrics = new StoreMetrics(store, 'test');
    for (const line of [
      'add event-loop-group g',
      'add event-loop g-0 to event-loop-group g',
      'add event-loop g-1 to event-loop-group g',
      'add upstream u0',
      // max-associations holds for each worker's server: one association per worker.
      'add socks5-server s5 address 127.0.0.1:0 upstream u0 event-loop-group g' +
        ' allow-non-backend allow-udp max-associations 1',
    ]) {
      expect(await ex.execute(line, 'stdio')).toEqual({ kind: 'done' });
    }
    const s5 = store.socks5Servers.get('s5')?.lb;
    if (s5 === undefined) throw new Error('no s5');
    const port = s5.bound().port;
    const pids = (store.elgs.get('g')?.list() ?? []).map((l) => (l as WorkerEventLoop).worker.pid);
    expect(pids).toHaveLength(2);
    await expectViews(ex, metrics, [0, 0]);

    // At most one association per worker: two alive means one on each; a third is refused.
    let refused = 0;
    for (let i = 0; clients.length < 2 || refused === 0; i++) {
      if (i >= 200) throw new Error(`200 attempts: ${clients.length} associated`);
      try {
        clients.push(await socks5UdpClient(port));
      } catch (err) {
        expect((err as { replyCode?: number }).replyCode).toBe(2);
        refused++;
      }
    }
    // Each association relays for real, from whichever worker holds it.
    const echoPort = udpEcho.address().port;
    for (const [i, c] of clients.entries()) {
      const answer = await c.request('127.0.0.1', echoPort, Buffer.from(`datagram ${i}`));
      expect(answer?.data.toString()).toBe(`datagram ${i}`);
    }
    await expectViews(ex, metrics, [2, refused]);
    expect([s5.associations, s5.associationsRefused]).toEqual([2, refused]);

    // kill -9 one worker: its association dies with it, its refusals stay counted.
    process.kill(pids[0] as number, 'SIGKILL');
    await waitFor('worker killed', () => (alive(pids[0] as number) ? undefined : true));
    await expectViews(ex, metrics, [1, refused]);

    // The last one closes with its control connection.
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await expectViews(ex, metrics, [0, refused]);
  });
});
