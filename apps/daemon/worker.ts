import { EventEmitter, once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import type { Address } from '../../src/fd/address.js';
import { layerOptions } from '../../src/fd/layer-options.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../../src/fd/server-fd.js';
import { brandStreamFD } from '../../src/fd/stream-fd.js';
import type { Transport } from '../../src/fd/transport.js';
import { HandleBook, WorkerRuntime } from '../../src/workers/runtime.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { dialTcp } from '../../transports/tcp/dialer.js';
import { acceptWithDirectReads } from '../../transports/tcp/direct-reader.js';
import { TCP_OPTIONS, TCP_SCHEMA } from '../../transports/tcp/options.js';

// The entry of a worker process (forked by src/workers/supervisor.ts): every
// transport, plus `shared-tcp`, a tcp base that listens on the socket the main
// process bound and sent, so `tcp`, `tls+tcp`, `ws+tcp`… listeners of a worker
// group all accept on one port in every worker.

const SHARED = 'shared-tcp';

/** A listener on a socket main bound (the handle), accepting as the tcp transport does. */
class SharedTcpServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind = 'tcp';
  readonly #server: Server;
  readonly #bound: BoundAddress;

  constructor(server: Server, address: Address) {
    super();
    this.#server = server;
    const info = server.address();
    this.#bound =
      info === null || typeof info === 'string'
        ? { host: address.host, port: address.port }
        : { host: info.address, port: info.port };
    server.on('error', (err) => this.emit('error', err));
  }

  address(): BoundAddress {
    return this.#bound;
  }

  async close(): Promise<void> {
    if (!this.#server.listening) return;
    // Only this process's copy of the socket closes; the others keep accepting.
    await new Promise<void>((resolve) => {
      this.#server.close();
      setImmediate(resolve);
    });
  }
}

async function listenShared(book: HandleBook, address: Address): Promise<ServerFD> {
  const opts = layerOptions(address, TCP_SCHEMA);
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: opts.noDelay });
  const handle = book.take(address) as Parameters<Server['listen']>[0];
  server.listen(handle, opts.backlog);
  await once(server, 'listening');
  const fd = new SharedTcpServerFD(server, address);
  const accept = (socket: Socket) => fd.emit('connection', brandStreamFD(socket, 'tcp'));
  if (!acceptWithDirectReads(server, opts, accept)) server.on('connection', accept);
  return fd;
}

const book = new HandleBook();
const shared: Transport = {
  scheme: SHARED,
  options: TCP_OPTIONS,
  schema: TCP_SCHEMA,
  connect: dialTcp,
  listen: (address) => listenShared(book, address),
};
const registry = createDefaultRegistry().registerTransport(shared);
new WorkerRuntime({ registry, book, sharedScheme: SHARED }).run();
