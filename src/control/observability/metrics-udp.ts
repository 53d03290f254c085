import type { Registry } from 'prom-client';
import type { UdpLbStats } from '../../lb/udp-lb.js';
import type { ResourceStore } from '../store.js';
import { define, type Kind } from './metric-define.js';

// udp-lbs in /metrics (issue 15). They are not among store.listeners() (no stream
// engine, sessions or buffers), so they have their own series: flows where a stream
// listener has sessions, datagrams as well as bytes, and what the flow table refused.
// `vproxy_listener_*` stays stream-only, so no sum mixes connections with flows.

export interface UdpLbSample {
  readonly labels: Record<'listener', string>;
  readonly stats: UdpLbStats;
}

/** Read once per scrape, with the rest of the snapshot. */
export function udpLbSamples(store: ResourceStore): UdpLbSample[] {
  return [...store.udpLbs].map(([name, e]) => ({
    labels: { listener: name },
    stats: e.lb.stats(),
  }));
}

const UDP_METRICS: readonly [string, string, Kind, (s: UdpLbStats) => number][] = [
  ['vproxy_udp_lb_flows', 'Flows (client addresses) open now.', 'gauge', (s) => s.flows],
  ['vproxy_udp_lb_flows_total', 'Flows opened.', 'counter', (s) => s.totalFlows],
  [
    'vproxy_udp_lb_expired_flows_total',
    'Flows closed by the idle timeout.',
    'counter',
    (s) => s.expiredFlows,
  ],
  [
    'vproxy_udp_lb_refused_total',
    'New flows refused: flow table full, security group, or no backend.',
    'counter',
    (s) => s.refused,
  ],
  [
    'vproxy_udp_lb_datagrams_in_total',
    'Datagrams from clients forwarded to backends.',
    'counter',
    (s) => s.datagramsIn,
  ],
  [
    'vproxy_udp_lb_datagrams_out_total',
    'Datagrams from backends returned to clients.',
    'counter',
    (s) => s.datagramsOut,
  ],
  ['vproxy_udp_lb_bytes_in_total', 'Payload bytes from clients.', 'counter', (s) => s.bytesIn],
  ['vproxy_udp_lb_bytes_out_total', 'Payload bytes to clients.', 'counter', (s) => s.bytesOut],
  [
    'vproxy_udp_lb_dropped_oversize_total',
    'Datagrams dropped for exceeding the size limit (either way).',
    'counter',
    (s) => s.droppedOversize,
  ],
  [
    'vproxy_udp_lb_dropped_total',
    'Datagrams dropped otherwise (backend socket not connected yet and its queue full).',
    'counter',
    (s) => s.dropped,
  ],
];

export function defineUdpMetrics(registers: Registry[], read: () => readonly UdpLbSample[]): void {
  for (const [name, help, kind, value] of UDP_METRICS) {
    define(kind, name, help, ['listener'], registers, (emit) => {
      for (const l of read()) emit(l.labels, value(l.stats));
    });
  }
}
