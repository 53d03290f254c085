import { EventEmitter, once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Address } from '../../src/fd/address.js';
import { layerOptions } from '../../src/fd/layer-options.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../../src/fd/server-fd.js';
import { brandStreamFD } from '../../src/fd/stream-fd.js';
import { acceptWithDirectReads } from './direct-reader.js';
import { TCP_SCHEMA, type TcpOptions } from './options.js';

export function listenTcp(address: Address): Promise<ServerFD> {
  return open(address, (server, opts) =>
    server.listen({ host: address.host, port: address.port, backlog: opts.backlog }),
  );
}

/**
 * The same listener on a listening-socket handle another process bound and
 * sent (a worker's share of a port, see src/workers): only this process's copy
 * closes with it, the others keep accepting.
 */
export function listenTcpOnHandle(address: Address, handle: object): Promise<ServerFD> {
  return open(address, (server, opts) =>
    server.listen(handle as Parameters<Server['listen']>[0], opts.backlog),
  );
}

async function open(
  address: Address,
  listen: (server: Server, opts: TcpOptions) => void,
): Promise<ServerFD> {
  const opts = layerOptions(address, TCP_SCHEMA);
  const server = createServer({
    allowHalfOpen: true,
    // Nothing is read from a client before its owner wires it up (e.g. the
    // proxy has connected the backend): the kernel buffer is the only buffer.
    pauseOnConnect: true,
    noDelay: opts.noDelay,
    keepAlive: opts.keepAliveSeconds > 0,
    keepAliveInitialDelay: opts.keepAliveSeconds * 1000,
  });
  listen(server, opts);
  try {
    await once(server, 'listening');
  } catch (err) {
    server.close();
    throw err;
  }
  return new TcpServerFD(server, opts);
}

class TcpServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind = 'tcp';
  readonly #server: Server;
  readonly #bound: BoundAddress;

  constructor(server: Server, opts: TcpOptions) {
    super();
    this.#server = server;
    const info = server.address();
    if (info === null || typeof info === 'string') throw new Error('tcp listener has no address');
    this.#bound = { host: info.address, port: info.port };
    const accept = (socket: Socket) => this.emit('connection', brandStreamFD(socket, 'tcp'));
    if (!acceptWithDirectReads(server, opts, accept)) server.on('connection', accept);
    server.on('error', (err) => this.emit('error', err));
  }

  address(): BoundAddress {
    return this.#bound;
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    // net.Server#close's callback waits for every accepted socket to end; we
    // only stop accepting here, accepted streams belong to their owners.
    await new Promise<void>((resolve) => {
      this.#server.close();
      setImmediate(resolve);
    });
  }
}
