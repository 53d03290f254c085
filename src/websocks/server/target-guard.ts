import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Address } from '../../fd/address.js';
import { VproxyError } from '../../fd/errors.js';
import type { Registry } from '../../fd/registry.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import type { ConnectOptions, Transport } from '../../fd/transport.js';
import { isUdpTunnelTarget } from '../../protocols/websocks/udp-tunnel.js';
import { WebsocksAppError } from '../errors.js';
import { UdpTunnelEndpoint } from './udp-endpoint.js';

const ALWAYS = new BlockList();
ALWAYS.addSubnet('127.0.0.0', 8, 'ipv4');
ALWAYS.addSubnet('0.0.0.0', 8, 'ipv4');
ALWAYS.addSubnet('169.254.0.0', 16, 'ipv4');
ALWAYS.addAddress('::1', 'ipv6');
ALWAYS.addAddress('::', 'ipv6');
ALWAYS.addSubnet('fe80::', 10, 'ipv6');

/** `::ffff:127.0.0.1` is 127.0.0.1 to the kernel, so it is judged as that. */
function unmapped(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? (m[1] as string) : ip;
}

let ownCache: { at: number; ips: Set<string> } | null = null;

/** This host's interface addresses (a controller on 0.0.0.0 listens on each), refreshed every 10 s. */
function ownAddresses(): Set<string> {
  const now = Date.now();
  if (ownCache !== null && now - ownCache.at < 10_000) return ownCache.ips;
  const ips = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) ips.add(unmapped(a.address.split('%')[0] as string));
  }
  ownCache = { at: now, ips };
  return ips;
}

/** Whether an authenticated tunnel user may not reach `ip`: loopback, unspecified, link-local or this host. */
export function isGuardedAddress(ip: string): boolean {
  const plain = unmapped(ip.split('%')[0] as string);
  const family = isIP(plain);
  if (family === 0) return true;
  return ALWAYS.check(plain, family === 4 ? 'ipv4' : 'ipv6') || ownAddresses().has(plain);
}

/**
 * `tcp` for the tunnel's targets: a name is resolved here, every address it
 * has is checked, and the connect goes to the checked address (so a DNS answer
 * that changes between check and connect cannot slip a loopback address in).
 * A refused target fails with a cause coded EACCES, which the socks5 stage
 * answers with reply 02 (connection not allowed by ruleset). The UDP tunnel's
 * reserved target gets a UdpTunnelEndpoint whose datagrams pass the same check.
 */
export function guardedTcp(inner: Registry): Transport {
  return {
    scheme: 'tcp',
    options: [],
    async connect(address: Address, options?: ConnectOptions): Promise<StreamFD> {
      if (isUdpTunnelTarget(address.host, address.port)) {
        // Each datagram's target is checked as a stream's is.
        return new UdpTunnelEndpoint({ allowIp: (ip) => !isGuardedAddress(ip) });
      }
      const ips = isIP(address.host)
        ? [address.host]
        : (await lookup(address.host, { all: true })).map((a) => a.address);
      const denied = ips.find(isGuardedAddress);
      if (denied !== undefined || ips.length === 0) {
        const cause = Object.assign(new Error('target not allowed'), { code: 'EACCES' });
        throw new WebsocksAppError(
          'ERR_WEBSOCKS_TARGET_DENIED',
          `websocks target ${address.host} (${denied ?? 'no address'}) is this server's own or loopback/link-local; --allow-loopback permits it`,
          { cause },
        );
      }
      return inner.connect({ ...address, host: ips[0] as string }, options);
    },
    listen(): never {
      throw new VproxyError('ERR_NOT_SUPPORTED', 'the websocks target transport does not listen');
    },
  };
}
