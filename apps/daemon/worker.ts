import type { Transport } from '../../src/fd/transport.js';
import { HandleBook, WorkerRuntime } from '../../src/workers/runtime.js';
import { createDefaultRegistry } from '../../transports/default-registry.js';
import { dialTcp } from '../../transports/tcp/dialer.js';
import { listenTcpOnHandle } from '../../transports/tcp/listener.js';
import { TCP_OPTIONS, TCP_SCHEMA } from '../../transports/tcp/options.js';

// The entry of a worker process (forked by src/workers/supervisor.ts): every
// transport, plus `shared-tcp`, a tcp base that listens on the socket the main
// process bound and sent, so `tcp`, `tls+tcp`, `ws+tcp`… listeners of a worker
// group all accept on one port in every worker.

const SHARED = 'shared-tcp';

const book = new HandleBook();
const shared: Transport = {
  scheme: SHARED,
  options: TCP_OPTIONS,
  schema: TCP_SCHEMA,
  connect: dialTcp,
  listen: (address) => listenTcpOnHandle(address, book.take(address) as object),
};
const registry = createDefaultRegistry().registerTransport(shared);
new WorkerRuntime({ registry, book, sharedScheme: SHARED }).run();
