import { once } from 'node:events';
import { connect, type Socket, type TcpNetConnectOpts } from 'node:net';
import type { Address } from '../../src/fd/address.js';
import { awaitReady } from '../../src/fd/deadline.js';
import { layerOptions } from '../../src/fd/layer-options.js';
import type { NullProto } from '../../src/fd/null-proto.js';
import { brandStreamFD, type StreamFD } from '../../src/fd/stream-fd.js';
import type { ConnectOptions } from '../../src/fd/transport.js';
import { DirectReader } from './direct-reader.js';
import { TCP_SCHEMA } from './options.js';

export async function dialTcp(address: Address, options: ConnectOptions = {}): Promise<StreamFD> {
  const socket = dialTcpNow(address);
  await awaitReady(
    once(socket, 'connect'),
    options,
    `tcp connect to ${address.host}:${address.port}`,
    () => socket.destroy(),
  );
  return socket;
}

/** Start a connect; the socket emits 'connect' or 'error' (Transport.dial). */
export function dialTcpNow(address: Address): StreamFD {
  // Parsed once per address by the registry (the address carries them).
  const opts = layerOptions(address, TCP_SCHEMA);
  const reader = new DirectReader();
  // Without a prototype, as the accepted sockets' options (see NullProto).
  const connectOptions: TcpNetConnectOpts & NullProto = {
    __proto__: null,
    host: address.host,
    port: address.port,
    allowHalfOpen: true,
    noDelay: opts.noDelay,
    keepAlive: opts.keepAliveSeconds > 0,
    keepAliveInitialDelay: opts.keepAliveSeconds * 1000,
    onread: reader.onread,
  };
  const socket: Socket = connect(connectOptions);
  reader.attach(socket);
  return brandStreamFD(socket, 'tcp');
}
