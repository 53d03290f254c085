import type { Registry } from 'prom-client';
import type { GroupDelegateStatus } from '../../mesh/group-delegate.js';
import type { NodeDelegateStatus } from '../../mesh/node-delegate.js';
import type { RegistryStatus } from '../../mesh/registry.js';
import type { ResourceStore } from '../store.js';
import { define, type Emit, type Kind } from './metric-define.js';

// The service registry and its delegates in /metrics (issue 17): whether the
// registry is reachable, what each delegate holds and how much it changed.
// No series at all while the daemon has no registry in use.

export interface MeshSample {
  readonly registry: RegistryStatus;
  readonly nodes: readonly NodeDelegateStatus[];
  readonly groups: readonly GroupDelegateStatus[];
}

/** Read once per scrape, with the rest of the snapshot. */
export function meshSample(store: ResourceStore): MeshSample | undefined {
  const registry = store.meshIfAny;
  if (registry === undefined) return undefined;
  return {
    registry: registry.status(),
    nodes: [...store.nodeDelegates.values()].map((e) => e.delegate.status()),
    groups: [...store.groupDelegates.values()].map((e) => e.delegate.status()),
  };
}

type GroupLabel = 'delegate' | 'service' | 'zone' | 'group';
const GROUP_METRICS: readonly [string, string, Kind, (g: GroupDelegateStatus) => number][] = [
  [
    'vproxy_mesh_group_servers',
    'Servers a smart-group-delegate put in its group from the registry.',
    'gauge',
    (g) => g.servers,
  ],
  [
    'vproxy_mesh_group_frozen',
    '1 while the registry is unreachable and the group is kept as it was.',
    'gauge',
    (g) => (g.state === 'frozen' ? 1 : 0),
  ],
  [
    'vproxy_mesh_changes_total',
    'Adds, removes and re-weights a smart-group-delegate applied to its group.',
    'counter',
    (g) => g.changes,
  ],
  [
    'vproxy_mesh_relists_total',
    'Times a smart-group-delegate listed its service again (compaction, cancelled watch, outage end).',
    'counter',
    (g) => g.relists,
  ],
];

/** The registry connection and the delegates (issue 17). */
export function defineMeshMetrics(registers: Registry[], read: () => MeshSample | undefined): void {
  const registry = (f: (m: MeshSample) => number) => (emit: Emit) => {
    const m = read();
    if (m !== undefined) emit({ backend: m.registry.backend }, f(m));
  };
  define(
    'gauge',
    'vproxy_mesh_registry_connected',
    '1 while the service registry can be read and written (etcd: quorum reachable).',
    ['backend'],
    registers,
    registry((m) => (m.registry.connection === 'connected' ? 1 : 0)),
  );
  define(
    'counter',
    'vproxy_mesh_registry_connection_changes_total',
    'Connection state changes of the service registry client (a flapping registry shows here).',
    ['backend'],
    registers,
    registry((m) => m.registry.connectionChanges),
  );
  define(
    'gauge',
    'vproxy_mesh_node_registered',
    '1 while a smart-node-delegate is written on the live lease.',
    ['delegate', 'service', 'zone'],
    registers,
    (emit) => {
      for (const n of read()?.nodes ?? [])
        emit(
          { delegate: n.name, service: n.service, zone: n.zone },
          n.state === 'connected' ? 1 : 0,
        );
    },
  );
  for (const [name, help, kind, value] of GROUP_METRICS) {
    define(kind, name, help, ['delegate', 'service', 'zone', 'group'], registers, (emit) => {
      for (const g of read()?.groups ?? []) {
        const labels: Record<GroupLabel, string> = {
          delegate: g.name,
          service: g.service,
          zone: g.zone,
          group: g.group,
        };
        emit(labels, value(g));
      }
    });
  }
}
