import { createSocket, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP, isIPv6 } from 'node:net';

export interface UdpSocketOptions {
  readonly rcvbuf: number;
  readonly sndbuf: number;
}

export interface UdpSocket {
  readonly socket: Socket;
  /** From now on, IP literals resolve synchronously (call once bind/connect has settled). */
  enableFastLookup(): void;
}

/**
 * A UDP socket for KCP. An unconnected socket (a listener) names the peer in every send(),
 * and node:dgram resolves that name through dns.lookup each time: for an IP literal, a
 * process.nextTick and a closure per datagram before it reaches the kernel. Once the socket is
 * set up, IP literals resolve synchronously instead. Until then lookups stay asynchronous:
 * bind() and connect() emit their events from the lookup's callback, and callers attach their
 * listener after calling them.
 */
export function makeUdpSocket(host: string, options: UdpSocketOptions): UdpSocket {
  let fast = false;
  const lookup = (
    hostname: string,
    lookupOptions: LookupOneOptions,
    cb: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
  ): void => {
    const family = fast ? isIP(hostname) : 0;
    if (family !== 0) cb(null, hostname, family);
    else dnsLookup(hostname, lookupOptions, cb);
  };
  const socket = createSocket({
    type: isIPv6(host) ? 'udp6' : 'udp4',
    lookup,
    ...(options.rcvbuf > 0 ? { recvBufferSize: options.rcvbuf } : {}),
    ...(options.sndbuf > 0 ? { sendBufferSize: options.sndbuf } : {}),
  });
  return {
    socket,
    enableFastLookup: () => {
      fast = true;
    },
  };
}
