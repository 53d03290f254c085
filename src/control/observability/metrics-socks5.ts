import type { Registry } from 'prom-client';
import type { ResourceStore } from '../store.js';
import { define } from './metric-define.js';

// A socks5-server's UDP ASSOCIATE relays in /metrics. They are not sessions
// (a relay lives beside its control connection's session), so they have their
// own series; on worker processes they are the workers' sums.

export interface Socks5UdpSample {
  readonly labels: Record<'listener', string>;
  readonly associations: number;
  readonly refused: number;
  /** Associations the server may hold at once: max-associations × its worker processes. */
  readonly capacity: number;
}

/** Read once per scrape, with the rest of the snapshot. */
export function socks5UdpSamples(store: ResourceStore): Socks5UdpSample[] {
  return [...store.socks5Servers].map(([name, e]) => ({
    labels: { listener: name },
    associations: e.lb.associations,
    refused: e.lb.associationsRefused,
    capacity: e.lb.associationCapacity,
  }));
}

export function defineSocks5Metrics(
  registers: Registry[],
  read: () => readonly Socks5UdpSample[],
): void {
  define(
    'gauge',
    'vproxy_socks5_udp_associations',
    'UDP associations alive now.',
    ['listener'],
    registers,
    (emit) => {
      for (const s of read()) emit(s.labels, s.associations);
    },
  );
  define(
    'gauge',
    'vproxy_socks5_udp_associations_capacity',
    'UDP associations the server may hold at once (max-associations times its worker processes).',
    ['listener'],
    registers,
    (emit) => {
      for (const s of read()) emit(s.labels, s.capacity);
    },
  );
  define(
    'counter',
    'vproxy_socks5_udp_associations_refused_total',
    'UDP ASSOCIATE requests refused because the associations were at their limit.',
    ['listener'],
    registers,
    (emit) => {
      for (const s of read()) emit(s.labels, s.refused);
    },
  );
}
