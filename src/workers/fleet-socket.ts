import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Address } from '../fd/address.js';
import { VproxyError } from '../fd/errors.js';
import type { Registry } from '../fd/registry.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../fd/server-fd.js';
import type { EventLoopGroup } from '../lb/event-loop-group.js';
import { WorkerEventLoop } from './worker-loop.js';

// Where a listener on worker processes listens: one socket bound here (a tcp
// stack), which every worker listens on, or none (a worker binds its own).
/** The listen side of main's settings engine: it never accepts (the workers do). */
export class InertServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind: string;
  bound: BoundAddress;

  constructor(kind: string, bound: BoundAddress) {
    super();
    this.kind = kind;
    this.bound = bound;
  }

  address(): BoundAddress {
    return this.bound;
  }

  async close(): Promise<void> {}
}

/** A raw TCP handle bound (not listening) in the main process; each worker listens on it. */
interface ListenHandle {
  getsockname(out: { address?: string; port?: number }): number;
  close(): void;
}

type CreateServerHandle = (
  address: string,
  port: number,
  addressType: number,
  fd: number,
  flags?: number,
) => ListenHandle | number;

/**
 * Bind `host:port` in this process without listening, as `cluster` does for
 * its shared handles: the socket starts accepting once a worker listens on it,
 * and stays open while main holds it, so a restarted worker listens on the
 * same socket and the port never closes.
 */
async function bindShared(host: string, port: number): Promise<ListenHandle> {
  const ip = net.isIP(host) !== 0 ? host : (await lookup(host)).address;
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })
    ._createServerHandle;
  if (create === undefined) throw new VproxyError('ERR_NOT_SUPPORTED', 'no shared listen handles');
  const handle = create(ip, port, net.isIP(ip), -1);
  if (typeof handle === 'number') {
    const code = getSystemErrorName(handle);
    throw Object.assign(new Error(`listen ${code} ${ip}:${port}`), {
      code,
      errno: handle,
      syscall: 'listen',
    });
  }
  return handle;
}

/**
 * `tcp` → `tcp`, `tls+tcp` → `tls+tcp`, `tls` → `tls+tcp` (a layer stack over
 * the default base): the stack spelled down to its tcp base, or undefined when
 * it does not end in tcp (kcp, udp…) or goes through an alias (`wss`).
 */
export function tcpStack(registry: Registry, scheme: string): string | undefined {
  const schemas = registry.optionSchemas(scheme);
  if (schemas.at(-1)?.prefix !== 'tcp') return undefined;
  const parts = scheme.split('+');
  if (parts.at(-1) === 'tcp' && schemas.length === parts.length) return scheme;
  if (schemas.length === parts.length + 1) return `${scheme}+tcp`;
  return undefined;
}

/** Where a listener on workers listens: the socket main bound (tcp stacks), or none (one worker binds). */
export interface FleetSocket {
  readonly loops: readonly WorkerEventLoop[];
  /** The address main reports (the real port of a shared socket bound to port 0). */
  readonly fd: InertServerFD;
  readonly handle: ListenHandle | undefined;
  readonly listenScheme: string | undefined;
}

/** The worker loops of `elg` and, for a tcp stack, the shared socket; undefined without worker loops. */
export async function fleetSocket(
  registry: Registry,
  elg: EventLoopGroup,
  address: Address,
): Promise<FleetSocket | undefined> {
  const loops = elg.list().filter((l) => l instanceof WorkerEventLoop);
  if (loops.length === 0) return undefined;
  const listenScheme = tcpStack(registry, address.scheme);
  const handle =
    listenScheme === undefined ? undefined : await bindShared(address.host, address.port);
  let bound: BoundAddress = { host: address.host, port: address.port };
  if (handle !== undefined) {
    const out: { address?: string; port?: number } = {};
    handle.getsockname(out);
    bound = { host: out.address ?? address.host, port: out.port ?? address.port };
  }
  return { loops, fd: new InertServerFD(address.scheme, bound), handle, listenScheme };
}
