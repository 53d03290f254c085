import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdRegistry } from '../../src/mesh/etcd-registry.js';
import { SmartNodeDelegate } from '../../src/mesh/node-delegate.js';
import {
  command,
  type MeshDaemon,
  startMeshDaemon,
  statusOf,
  stopMeshDaemons,
  until,
} from '../helpers/mesh-daemon.js';
import { requireTool, skipNote } from '../helpers/require-tool.js';
import { EtcdCluster } from '../integration/mesh/etcd-cluster.js';

// Issue 17's bounded scale check with real daemons: 1,000 instances over 20
// services on a 3-member etcd cluster, registered by 10 registry clients (one
// lease each, as 10 publishing daemons would hold), followed by 3 vproxy
// daemon processes, each with a server-group + smart-group-delegate per
// service (60 delegates). Then a burst of 200 changes (100 deregistrations,
// 60 registrations, 40 re-weights) and the time until every daemon's status
// shows the new state. Instances are never dialled: the groups' checks are
// `none`. The 10-minute churn/memory run is bench/mesh.mjs.

const etcd = requireTool('etcd');
const SERVICES = 20;
const PER_SERVICE = 50;
const WRITERS = 10;
const FOLLOWERS = 3;
let cluster: EtcdCluster | undefined;
let dir: string;
const daemons: MeshDaemon[] = [];
const closers: Array<() => Promise<unknown>> = [];

interface StatusJson {
  serverGroups: { name: string; servers: { name: string; weight: number }[] }[];
  mesh: { groupDelegates: { name: string; state: string }[] } | null;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vproxy-mesh-scale-'));
  if (!etcd.missing) cluster = await EtcdCluster.start(etcd.path);
}, 60_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  for (const line of await stopMeshDaemons(daemons)) console.log(`[mesh-scale] ${line}`);
  await cluster?.close();
  rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe.skipIf(etcd.missing)(`mesh scale: 3 daemons on etcd${skipNote(etcd)}`, () => {
  it('1,000 instances, 20 services, 3 daemons: convergence after a burst of 200 changes', async () => {
    const c = cluster as EtcdCluster;
    const service = (s: number) => `svc${s}`;
    const writers = Array.from({ length: WRITERS }, () => {
      const r = new EtcdRegistry({ endpoints: c.endpoints, leaseTtlSeconds: 10 });
      closers.push(() => r.close());
      return r;
    });
    // Instance i of service s: 10.<s>.<i / 250>.<i % 250 + 1>:8000 (never dialled).
    const address = (s: number, i: number) => `10.${s}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const nodes = new Map<string, SmartNodeDelegate>();
    const expected = new Map<string, Map<string, number>>(); // group -> server name -> weight
    const register = (s: number, i: number, weight = 10) => {
      const d = new SmartNodeDelegate({
        registry: writers[(s * PER_SERVICE + i) % WRITERS] as EtcdRegistry,
        service: service(s),
        zone: 'z',
        address: address(s, i),
        port: 8000,
        weight,
      });
      nodes.set(`${s}/${i}`, d);
      const names = expected.get(service(s)) ?? new Map<string, number>();
      names.set(`${service(s)}@${address(s, i)}:8000`, weight);
      expected.set(service(s), names);
      return d;
    };

    daemons.push(
      ...(await Promise.all(
        Array.from({ length: FOLLOWERS }, (_, f) =>
          startMeshDaemon({
            configDir: join(dir, `d${f}`),
            endpoints: c.endpoints,
            leaseTtlSeconds: 10,
          }),
        ),
      )),
    );
    for (const d of daemons) {
      for (let s = 0; s < SERVICES; s++) {
        await command(
          d,
          `add server-group ${service(s)} timeout 1000 period 60000 up 1 down 1 method wrr check none`,
        );
        await command(
          d,
          `add smart-group-delegate g${s} service ${service(s)} zone z server-group ${service(s)}`,
        );
      }
    }
    // Every daemon's groups equal what is registered, and every delegate is connected.
    const converged = async () => {
      for (const d of daemons) {
        const st = await statusOf<StatusJson>(d);
        if (st.mesh?.groupDelegates.some((g) => g.state !== 'connected') !== false) return false;
        for (let s = 0; s < SERVICES; s++) {
          const want = expected.get(service(s)) ?? new Map<string, number>();
          const have = st.serverGroups.find((g) => g.name === service(s))?.servers ?? [];
          if (have.length !== want.size || !have.every((sv) => want.get(sv.name) === sv.weight))
            return false;
        }
      }
      return true;
    };

    let t = performance.now();
    for (let s = 0; s < SERVICES; s++) for (let i = 0; i < PER_SERVICE; i++) register(s, i);
    await Promise.all([...nodes.values()].map((d) => d.written()));
    const writtenMs = performance.now() - t;
    const initialMs = await until('initial convergence', converged, 60_000, 50);
    console.log(
      `[mesh-scale] ${nodes.size} instances registered by ${WRITERS} clients in ${writtenMs.toFixed(0)} ms; ${FOLLOWERS} daemons × ${SERVICES} group delegates converged ${initialMs.toFixed(0)} ms later`,
    );

    // The burst: 100 deregistrations, 60 new instances, 40 re-weights, all at once.
    t = performance.now();
    const burst: Array<Promise<unknown>> = [];
    for (let k = 0; k < 100; k++) {
      const s = k % SERVICES;
      const i = Math.floor(k / SERVICES);
      const key = `${s}/${i}`;
      const d = nodes.get(key) as SmartNodeDelegate;
      nodes.delete(key);
      expected.get(service(s))?.delete(`${service(s)}@${address(s, i)}:8000`);
      burst.push(d.close());
    }
    for (let k = 0; k < 60; k++)
      burst.push(register(k % SERVICES, PER_SERVICE + Math.floor(k / SERVICES)).written());
    for (let k = 0; k < 40; k++) {
      const s = k % SERVICES;
      const i = 10 + Math.floor(k / SERVICES);
      const d = nodes.get(`${s}/${i}`) as SmartNodeDelegate;
      d.setWeight(20 + k);
      expected.get(service(s))?.set(`${service(s)}@${address(s, i)}:8000`, 20 + k);
      burst.push(d.written());
    }
    await Promise.all(burst);
    const burstWrittenMs = performance.now() - t;
    const convergeMs = await until('convergence after the burst', converged, 60_000, 50);
    const totalMs = performance.now() - t;
    console.log(
      `[mesh-scale] burst of 200 changes: written in ${burstWrittenMs.toFixed(0)} ms; all ${FOLLOWERS} daemons converged ${totalMs.toFixed(0)} ms after the burst began (${convergeMs.toFixed(0)} ms after the last write; polled every 50 ms through /api/v1/status)`,
    );
    let servers = 0;
    for (const d of daemons)
      for (const g of (await statusOf<StatusJson>(d)).serverGroups) servers += g.servers.length;
    expect(servers).toBe(FOLLOWERS * (SERVICES * PER_SERVICE - 100 + 60));
  }, 180_000);
});
