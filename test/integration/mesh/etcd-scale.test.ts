import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLoopGroup } from '../../../src/lb/event-loop-group.js';
import { ServerGroup } from '../../../src/lb/server-group.js';
import { EtcdRegistry } from '../../../src/mesh/etcd-registry.js';
import { SmartGroupDelegate } from '../../../src/mesh/group-delegate.js';
import { SmartNodeDelegate } from '../../../src/mesh/node-delegate.js';
import { expectNoLeakedSockets, snapshotSockets } from '../../helpers/handles.js';
import { requireTool, skipNote } from '../../helpers/require-tool.js';
import { EtcdCluster } from './etcd-cluster.js';

// Bounded scale: 1,000 instances over 20 services, registered by 10 daemons
// (registry clients, one lease each), followed by 3 daemons with a group
// delegate per service (60 delegates). Then a burst of 200 changes (100
// deregistrations, 60 registrations, 40 re-weights) and the time until every
// group shows the new state. No sockets to the instances: checks are `none`.

const etcd = requireTool('etcd');
const SERVICES = 20;
const PER_SERVICE = 50;
const WRITERS = 10;
const FOLLOWERS = 3;
let baseline: string[];
let cluster: EtcdCluster | undefined;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  baseline = snapshotSockets();
  if (!etcd.missing) cluster = await EtcdCluster.start(etcd.path);
}, 60_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => {});
  await cluster?.close();
  await expectNoLeakedSockets(baseline, 5000);
}, 120_000);

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const start = performance.now();
  while (!cond()) {
    if (performance.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - start;
}

describe.skipIf(etcd.missing)(`mesh scale on etcd${skipNote(etcd)}`, () => {
  it('1,000 instances, 20 services, 3 followers: convergence after a burst of 200 changes', async () => {
    const c = cluster as EtcdCluster;
    const client = () => {
      const r = new EtcdRegistry({ endpoints: c.endpoints, leaseTtlSeconds: 10 });
      closers.push(() => r.close());
      return r;
    };
    const service = (s: number) => `svc${s}`;
    const writers = Array.from({ length: WRITERS }, client);
    // Instance i of service s: 10.<s>.<i / 250>.<i % 250 + 1>:8000 (never dialled).
    const address = (s: number, i: number) => `10.${s}.${Math.floor(i / 250)}.${(i % 250) + 1}`;
    const nodes = new Map<string, SmartNodeDelegate>();
    const expected = new Map<string, Map<string, number>>(); // service -> server name -> weight
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

    const elg = new EventLoopGroup('scale-health');
    elg.add('scale-health-0');
    closers.push(() => elg.close());
    const followers: Array<{ group: ServerGroup; delegate: SmartGroupDelegate }> = [];
    for (let f = 0; f < FOLLOWERS; f++) {
      const r = client();
      for (let s = 0; s < SERVICES; s++) {
        const group = new ServerGroup({
          name: `f${f}-${service(s)}`,
          eventLoopGroup: elg,
          healthCheck: { timeoutMs: 1000, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
        });
        closers.push(() => group.close());
        const delegate = new SmartGroupDelegate({
          registry: r,
          service: service(s),
          zone: 'z',
          group,
        });
        closers.push(() => delegate.close());
        followers.push({ group, delegate });
      }
    }
    const converged = () =>
      followers.every(({ group, delegate }) => {
        const want = expected.get(delegate.service) ?? new Map<string, number>();
        const have = group.servers();
        return have.length === want.size && have.every((sv) => want.get(sv.name) === sv.weight);
      });

    let t = performance.now();
    for (let s = 0; s < SERVICES; s++) for (let i = 0; i < PER_SERVICE; i++) register(s, i);
    await Promise.all([...nodes.values()].map((d) => d.written()));
    const writtenMs = performance.now() - t;
    const initialMs = await until('initial convergence', converged, 30_000);
    console.log(
      `[mesh-scale] ${nodes.size} instances registered by ${WRITERS} clients in ${writtenMs.toFixed(0)} ms; ${followers.length} group delegates converged ${initialMs.toFixed(0)} ms later`,
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
    const convergeMs = await until('convergence after the burst', converged, 30_000);
    const totalMs = performance.now() - t;
    console.log(
      `[mesh-scale] burst of 200 changes: written in ${burstWrittenMs.toFixed(0)} ms; all ${followers.length} groups converged ${totalMs.toFixed(0)} ms after the burst began (${convergeMs.toFixed(0)} ms after the last write)`,
    );
    expect(totalMs).toBeLessThan(30_000);
    expect(followers.every(({ delegate }) => delegate.state === 'connected')).toBe(true);
    const servers = followers.reduce((n, { group }) => n + group.servers().length, 0);
    expect(servers).toBe(FOLLOWERS * (SERVICES * PER_SERVICE - 100 + 60));
  }, 120_000);
});
