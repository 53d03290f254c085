import type { Registry } from '../../../src/fd/registry.js';
import { ProxyEngine } from '../../../src/proxy/proxy.js';
import { RoundRobinPicker } from '../../../src/proxy/round-robin.js';
import type { WsServerFD } from '../../../transports/ws/index.js';

// tcp → ws → tcp is two proxy engines: an entry that accepts plain TCP and
// dials a ws address, and an exit that accepts from a ws listener and dials
// the real backend.

export interface Hop {
  readonly port: number;
  readonly proxy: ProxyEngine;
  close(): Promise<void>;
}

export interface ExitHop extends Hop {
  readonly wsServer: WsServerFD;
}

/** A proxy from the ws listener at `listen` to `backend`. */
export async function startExit(
  registry: Registry,
  listen: string,
  backend: string,
  idleTimeoutMs?: number,
): Promise<ExitHop> {
  const wsServer = (await registry.listen(listen)) as WsServerFD;
  const proxy = new ProxyEngine({
    server: wsServer,
    registry,
    picker: new RoundRobinPicker([backend]),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
  });
  return { port: wsServer.address().port, proxy, wsServer, close: () => proxy.close() };
}

/** A proxy from a plain TCP listener on 127.0.0.1 to `target` (a ws address). */
export async function startEntry(
  registry: Registry,
  target: string,
  idleTimeoutMs?: number,
): Promise<Hop> {
  const server = await registry.listen('tcp://127.0.0.1:0');
  const proxy = new ProxyEngine({
    server,
    registry,
    picker: new RoundRobinPicker([target]),
    ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }),
  });
  return { port: server.address().port, proxy, close: () => proxy.close() };
}
