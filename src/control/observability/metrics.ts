import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Registry as TransportRegistry } from '../../fd/registry.js';
import type { ServerStats } from '../../lb/server.js';
import type { ProxyStats } from '../../proxy/proxy.js';
import type { ResourceStore } from '../store.js';
import { define, type Kind } from './metric-define.js';
import { defineMeshMetrics, type MeshSample, meshSample } from './metrics-mesh.js';
import { defineSocks5Metrics, type Socks5UdpSample, socks5UdpSamples } from './metrics-socks5.js';
import { defineUdpMetrics, type UdpLbSample, udpLbSamples } from './metrics-udp.js';

// Prometheus metrics of a running vproxy, read from the resource store when
// scraped: nothing in the data path pushes anything. Totals that only grow are
// counters (`_total`); values that go up and down are gauges.

type ListenerLabel = 'type' | 'listener';
type ServerLabel = 'group' | 'server' | 'address';

interface ListenerSample {
  readonly labels: Record<ListenerLabel, string>;
  readonly stats: ProxyStats;
}

interface ServerSample {
  readonly labels: Record<ServerLabel, string>;
  readonly stats: ServerStats;
}

/** What a controller (RESP, HTTP) reports about the clients of its port. */
export interface ControllerCounters {
  readonly connections: number;
  readonly clients: number;
  readonly authFailures: number;
  readonly authThrottled: number;
  /** Clients closed or requests refused, by reason (see connection-guard.ts). */
  readonly refused: Readonly<Record<string, number>>;
}

export interface ControllerMetricsSource {
  readonly kind: 'resp-controller' | 'http-controller';
  readonly name: string;
  counters(): ControllerCounters;
}

// Controllers are owned by the daemon, not the resource store, but they open
// their ports through the store's transport registry: keying them by that
// registry scopes them to their daemon (two daemons in one test process do
// not see each other's) without a global list.
const controllersByRegistry = new WeakMap<TransportRegistry, Set<ControllerMetricsSource>>();

/** Show a controller's counters in the metrics of the store using `registry`; returns the undo. */
export function exportControllerMetrics(
  registry: TransportRegistry,
  source: ControllerMetricsSource,
): () => void {
  let set = controllersByRegistry.get(registry);
  if (set === undefined) {
    set = new Set();
    controllersByRegistry.set(registry, set);
  }
  set.add(source);
  return () => set.delete(source);
}

interface ControllerSample {
  readonly labels: Record<'kind' | 'controller', string>;
  readonly counters: ControllerCounters;
}

/** Everything one scrape reports, read once so every metric sees the same instant. */
interface Snapshot {
  readonly listeners: readonly ListenerSample[];
  readonly servers: readonly ServerSample[];
  readonly controllers: readonly ControllerSample[];
  /** Absent while the daemon has no registry in use. */
  readonly mesh: MeshSample | undefined;
  readonly udpLbs: readonly UdpLbSample[];
  readonly socks5Udp: readonly Socks5UdpSample[];
}

function takeSnapshot(store: ResourceStore): Snapshot {
  const listeners = [...store.listeners()].map(([type, name, e]) => ({
    labels: { type, listener: name },
    stats: e.lb.stats(),
  }));
  const servers: ServerSample[] = [];
  for (const [group, e] of store.serverGroups) {
    for (const server of e.group.servers()) {
      const stats = server.stats();
      servers.push({ labels: { group, server: stats.name, address: stats.address }, stats });
    }
  }
  const controllers = [...(controllersByRegistry.get(store.registry) ?? [])].map((c) => ({
    labels: { kind: c.kind, controller: c.name },
    counters: c.counters(),
  }));
  const mesh = meshSample(store);
  return {
    listeners,
    servers,
    controllers,
    mesh,
    udpLbs: udpLbSamples(store),
    socks5Udp: socks5UdpSamples(store),
  };
}

/** One listener series: name, help, counter or gauge, and how to read it. */
const LISTENER_METRICS: readonly [string, string, Kind, (s: ProxyStats) => number][] = [
  [
    'vproxy_listener_accepted_connections_total',
    'Client connections accepted.',
    'counter',
    (s) => s.accepted,
  ],
  ['vproxy_listener_active_sessions', 'Sessions open now.', 'gauge', (s) => s.active],
  ['vproxy_listener_bytes_in_total', 'Bytes received from clients.', 'counter', (s) => s.bytesIn],
  ['vproxy_listener_bytes_out_total', 'Bytes sent to clients.', 'counter', (s) => s.bytesOut],
  [
    'vproxy_listener_connect_failures_total',
    'Backend connects that failed.',
    'counter',
    (s) => s.connectFailures,
  ],
  [
    'vproxy_listener_refused_total',
    'Clients refused by the security group or a failed handshake.',
    'counter',
    (s) => s.refused,
  ],
  [
    'vproxy_listener_no_backend_total',
    'Clients closed because no backend was available.',
    'counter',
    (s) => s.noBackend,
  ],
  [
    'vproxy_listener_idle_timeouts_total',
    'Sessions closed by the idle timeout.',
    'counter',
    (s) => s.idleTimeouts,
  ],
  [
    'vproxy_listener_fin_timeouts_total',
    'Half-closed sessions closed because their open direction went silent (fin-timeout).',
    'counter',
    (s) => s.finTimeouts,
  ],
  [
    'vproxy_listener_redispatches_total',
    'Failed backend connects retried on another server before the client saw anything.',
    'counter',
    (s) => s.redispatches,
  ],
  [
    'vproxy_listener_errors_total',
    'Sessions that ended with an error.',
    'counter',
    (s) => s.errors,
  ],
];

const MS = 1 / 1000;

/** One server series; `null` leaves the series out (no value yet). */
const SERVER_METRICS: readonly [string, string, Kind, (s: ServerStats) => number | null][] = [
  ['vproxy_server_up', 'Health state: 1 UP, 0 DOWN.', 'gauge', (s) => (s.healthy ? 1 : 0)],
  ['vproxy_server_weight', 'Configured weight (0 drains).', 'gauge', (s) => s.weight],
  [
    'vproxy_server_active_connections',
    'Backend connections open now.',
    'gauge',
    (s) => s.activeConnections,
  ],
  [
    'vproxy_server_connections_total',
    'Backend connections made.',
    'counter',
    (s) => s.totalConnections,
  ],
  ['vproxy_server_bytes_in_total', 'Bytes received from the server.', 'counter', (s) => s.bytesIn],
  ['vproxy_server_bytes_out_total', 'Bytes sent to the server.', 'counter', (s) => s.bytesOut],
  [
    'vproxy_server_connect_failures_total',
    'Connects to the server that failed.',
    'counter',
    (s) => s.connectFailures,
  ],
  [
    'vproxy_server_redispatches_total',
    'Failed connects to the server that were retried on another server.',
    'counter',
    (s) => s.redispatches,
  ],
  [
    'vproxy_server_health_checks_total',
    'Health-check probes run.',
    'counter',
    (s) => s.health.checks,
  ],
  [
    'vproxy_server_health_check_failures_total',
    'Health-check probes that failed.',
    'counter',
    (s) => s.health.failures,
  ],
  [
    'vproxy_server_health_check_latency_seconds',
    'Latency of the last successful health-check probe.',
    'gauge',
    (s) => (s.health.lastLatencyMs === null ? null : s.health.lastLatencyMs * MS),
  ],
  [
    'vproxy_server_health_check_latency_mean_seconds',
    'Mean latency of the last (up to 8) successful health-check probes.',
    'gauge',
    (s) => (s.health.avgLatencyMs === null ? null : s.health.avgLatencyMs * MS),
  ],
];

const CONTROLLER_METRICS: readonly [string, string, Kind, (c: ControllerCounters) => number][] = [
  [
    'vproxy_controller_connections_total',
    'Clients a controller accepted.',
    'counter',
    (c) => c.connections,
  ],
  ['vproxy_controller_active_clients', 'Clients connected now.', 'gauge', (c) => c.clients],
  [
    'vproxy_controller_auth_failures_total',
    'Wrong passwords or tokens (checked and refused).',
    'counter',
    (c) => c.authFailures,
  ],
  [
    'vproxy_controller_auth_throttled_total',
    'Authentication attempts refused unchecked: too many failures from that address.',
    'counter',
    (c) => c.authThrottled,
  ],
];

let processRegistry: Registry | undefined;

/**
 * Process metrics (CPU, memory, event loop lag, GC…), one registry per process:
 * collectDefaultMetrics installs a GC observer and an event-loop-delay monitor
 * that can never be removed, so each HTTP controller must not add its own.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** The vproxy metrics of one resource store, plus the process metrics. */
export class StoreMetrics {
  /** Owned by this object; never prom-client's global default registry. */
  readonly registry: Registry;
  readonly #store: ResourceStore;
  #snapshot: Snapshot | undefined;

  constructor(store: ResourceStore, version: string) {
    this.#store = store;
    const own = new Registry();
    const registers = [own];
    const read = () => this.#read();
    new Gauge({
      name: 'vproxy_info',
      help: 'Always 1; the version is a label.',
      labelNames: ['version'],
      registers,
    }).set({ version }, 1);
    for (const [name, help, kind, value] of LISTENER_METRICS) {
      define(kind, name, help, ['type', 'listener'], registers, (emit) => {
        for (const l of read().listeners) emit(l.labels, value(l.stats));
      });
    }
    for (const [name, help, kind, value] of SERVER_METRICS) {
      define(kind, name, help, ['group', 'server', 'address'], registers, (emit) => {
        for (const s of read().servers) {
          const v = value(s.stats);
          if (v !== null) emit(s.labels, v);
        }
      });
    }
    for (const [name, help, kind, value] of CONTROLLER_METRICS) {
      define(kind, name, help, ['kind', 'controller'], registers, (emit) => {
        for (const c of read().controllers) emit(c.labels, value(c.counters));
      });
    }
    define(
      'counter',
      'vproxy_controller_refused_total',
      'Controller clients closed or requests refused, by reason (timeouts, CSRF, malformed, throttled).',
      ['kind', 'controller', 'reason'],
      registers,
      (emit) => {
        for (const c of read().controllers) {
          for (const [reason, n] of Object.entries(c.counters.refused))
            emit({ ...c.labels, reason }, n);
        }
      },
    );
    defineMeshMetrics(registers, () => read().mesh);
    defineUdpMetrics(registers, () => read().udpLbs);
    defineSocks5Metrics(registers, () => read().socks5Udp);
    this.registry = Registry.merge([own, processMetrics()]);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; the store is read once for the whole scrape. */
  async metrics(): Promise<string> {
    this.#snapshot = takeSnapshot(this.#store);
    try {
      return await this.registry.metrics();
    } finally {
      this.#snapshot = undefined;
    }
  }

  #read(): Snapshot {
    // Someone may scrape `registry` directly: then each metric reads afresh.
    return this.#snapshot ?? takeSnapshot(this.#store);
  }
}
