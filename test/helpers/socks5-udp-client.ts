import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { brandStreamFD } from '../../src/fd/stream-fd.js';
import { toEndpoint } from '../../src/protocols/socks5/address.js';
import { socks5Connect } from '../../src/protocols/socks5/client-handshake.js';
import { decodeUdpHeader, encodeUdpDatagram } from '../../src/protocols/socks5/udp-header.js';
import { type BlastResult, blast } from './udp.js';

/**
 * A small RFC 1928 UDP client: UDP ASSOCIATE on a control connection, then
 * datagrams with the §7 header to the relay the reply named.
 */
export interface Socks5UdpClient {
  readonly control: Socket;
  readonly socket: UdpSocket;
  readonly relayPort: number;
  /** One datagram to `host:port`; the answer's source and payload, or null after `ms`. */
  request(
    host: string,
    port: number,
    data: Buffer,
    ms?: number,
  ): Promise<{ host: string; port: number; data: Buffer } | null>;
  close(): Promise<void>;
}

export async function socks5UdpClient(socksPort: number): Promise<Socks5UdpClient> {
  const control = connect(socksPort, '127.0.0.1');
  await once(control, 'connect');
  control.on('error', () => {});
  const reply = await socks5Connect(brandStreamFD(control, 'tcp'), {
    target: { host: '0.0.0.0', port: 0 },
    command: 'udp-associate',
  });
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const relayPort = reply.port;
  let closing: Promise<void> | null = null;
  return {
    control,
    socket,
    relayPort,
    request(host, port, data, ms = 2000) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          socket.off('message', onMessage);
          resolve(null);
        }, ms);
        const onMessage = (msg: Buffer): void => {
          clearTimeout(timer);
          socket.off('message', onMessage);
          const h = decodeUdpHeader(msg);
          resolve({ host: h.host, port: h.port, data: Buffer.from(msg.subarray(h.headerLength)) });
        };
        socket.on('message', onMessage);
        socket.send(encodeUdpDatagram(toEndpoint(host, port), data), relayPort, '127.0.0.1');
      });
    },
    close() {
      control.destroy();
      closing ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closing;
    },
  };
}

/**
 * `count` datagrams of random sizes to an echo at `host:port` through the
 * association (blast's accounting, byte for byte); an answer must name the
 * echo's port as its source.
 */
export function blastThrough(
  client: Socks5UdpClient,
  host: string,
  port: number,
  count: number,
  options: { maxSize?: number; window?: number; stallMs?: number } = {},
): Promise<BlastResult> {
  const header = encodeUdpDatagram(toEndpoint(host, port), Buffer.alloc(0));
  return blast(client.socket, client.relayPort, count, {
    window: 32,
    ...options,
    wrap: (d) => Buffer.concat([header, d]),
    unwrap: (answer) => {
      const h = decodeUdpHeader(answer);
      return h.port === port ? answer.subarray(h.headerLength) : null;
    },
  });
}
