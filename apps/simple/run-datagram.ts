import { type Address, formatAddress, formatHostPort, parseAddress } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import { type Logger, quietLogger } from '../../src/fd/logger.js';
import type { Registry } from '../../src/fd/registry.js';
import { ServerGroup } from '../../src/lb/server-group.js';
import { UdpLB } from '../../src/lb/udp-lb.js';
import { Upstream } from '../../src/lb/upstream.js';
import {
  type DatagramRelayOptions,
  type DatagramRelayStats,
  type DatagramTarget,
  StreamToUdpRelay,
  UdpToStreamRelay,
} from '../../src/proxy/datagram-relay.js';

export interface SimpleDatagramOptions {
  readonly bind: string;
  readonly backends: readonly string[];
  /** A UDP flow with no datagram either way for this long closes (its tunnel stream too). */
  readonly udpIdleTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxFlows?: number;
  readonly logger?: Logger;
}

export interface SimpleDatagramProxy {
  readonly mode: 'udp-to-stream' | 'stream-to-udp' | 'udp-to-udp';
  address(): { host: string; port: number };
  stats(): DatagramRelayStats;
  close(): Promise<void>;
}

/** A `udp://` bind or backend is what puts `simple` in datagram mode. */
export function isDatagramMode(bind: string, backends: readonly string[]): boolean {
  return [bind, ...backends].some(isUdp);
}

function isUdp(text: string): boolean {
  return /^udp:\/\//i.test(text);
}

/** registry.parse knows stream schemes only; udp:// options are checked when bound. */
function parse(registry: Registry, text: string): Address {
  return isUdp(text) ? parseAddress(text) : registry.parse(text);
}

/**
 * `vproxy simple` for UDP: `udp://` → stream (near side of a tunnel: one stream per
 * client flow, datagrams length-framed), stream → `udp://` (far side: one connected
 * UDP socket per stream), or `udp://` → `udp://` (a udp-lb). Backends are a server
 * group (round robin in the order given); every backend must be of the same kind.
 */
export async function runSimpleDatagram(
  registry: Registry,
  options: SimpleDatagramOptions,
): Promise<SimpleDatagramProxy> {
  const bind = parse(registry, options.bind);
  const backends = options.backends.map((b) => parse(registry, b));
  const udpBackends = backends.filter((b) => b.scheme === 'udp').length;
  if (udpBackends !== 0 && udpBackends !== backends.length) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      'simple: backends must be all udp:// or all stream addresses, not a mix',
    );
  }
  const logger = options.logger ?? quietLogger;
  const group = new ServerGroup({
    name: 'simple',
    registry,
    healthCheck: { timeoutMs: 1000, periodMs: 1000, up: 1, down: 1, check: { kind: 'none' } },
    logger,
    random: () => 0,
  });
  backends.forEach((b, i) => {
    group.add(`backend-${i + 1}`, b);
  });
  const maxFlows = options.maxFlows ?? 4096;
  const relayOptions: DatagramRelayOptions = {
    registry,
    pick: (client) => pick(group, client),
    idleTimeoutMs: options.udpIdleTimeoutMs,
    maxFlows,
    connectTimeoutMs: options.connectTimeoutMs,
    logger,
  };
  try {
    const proxy = await start(registry, bind, udpBackends > 0, group, relayOptions);
    const bound = proxy.address();
    console.log(
      `vproxy simple: ${proxy.mode} on ${bind.scheme}://${formatHostPort(bound.host, bound.port)}` +
        ` -> ${backends.map(formatAddress).join(', ')}`,
    );
    return {
      ...proxy,
      close: async () => {
        await proxy.close();
        await group.close();
      },
    };
  } catch (err) {
    await group.close();
    throw err;
  }
}

async function start(
  registry: Registry,
  bind: Address,
  udpBackends: boolean,
  group: ServerGroup,
  options: DatagramRelayOptions,
): Promise<SimpleDatagramProxy> {
  if (bind.scheme === 'udp' && udpBackends) {
    const upstream = new Upstream('simple');
    upstream.add(group);
    const lb = await UdpLB.start({
      name: 'simple',
      address: bind,
      upstream,
      registry,
      idleTimeoutMs: options.idleTimeoutMs,
      ...(options.maxFlows === undefined ? {} : { maxFlows: options.maxFlows }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    return {
      mode: 'udp-to-udp',
      address: () => lb.bound(),
      stats: () => lb.stats(),
      close: () => lb.close(),
    };
  }
  if (bind.scheme === 'udp') {
    const relay = new UdpToStreamRelay(await registry.bindDatagram(bind), options);
    return {
      mode: 'udp-to-stream',
      address: () => relay.address(),
      stats: () => relay.stats(),
      close: () => relay.close(),
    };
  }
  const relay = new StreamToUdpRelay(await registry.listen(bind), options);
  return {
    mode: 'stream-to-udp',
    address: () => relay.address(),
    stats: () => relay.stats(),
    close: () => relay.close(),
  };
}

function pick(group: ServerGroup, client: string): DatagramTarget | null {
  const server = group.next(client);
  if (server === null) return null;
  const lease = server.acquire();
  return { address: server.address, done: () => lease.release() };
}
