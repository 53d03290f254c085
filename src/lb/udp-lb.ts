import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type Address, formatAddress, formatHostPort, toAddress } from '../fd/address.js';
import type { DatagramFD } from '../fd/datagram-fd.js';
import { VproxyError } from '../fd/errors.js';
import { errorFields, type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { BoundAddress } from '../fd/server-fd.js';
import { type FlowEntry, FlowTable } from '../proxy/flow-table.js';
import { SecurityGroup } from './security-group.js';
import type { ConnectionLease } from './server.js';
import type { Upstream } from './upstream.js';

export const UDP_LB_DEFAULTS = Object.freeze({
  idleTimeoutMs: 60_000,
  maxFlows: 4096,
  /** The largest IPv4 UDP payload: by default nothing a socket can deliver is "oversize". */
  maxDatagram: 65_507,
});

/** Datagrams held per flow while its backend socket connects (beyond: dropped). */
const PENDING_LIMIT = 64;

export interface UdpLbOptions {
  readonly name: string;
  /** A datagram address (`udp://host:port`). */
  readonly address: string | Address;
  readonly upstream: Upstream;
  readonly registry: Registry;
  readonly securityGroup?: SecurityGroup;
  /** A flow with no datagram either way for this long is closed (default 60 s). */
  readonly idleTimeoutMs?: number;
  /** Flows alive at once; datagrams that would open one more are dropped and counted. */
  readonly maxFlows?: number;
  /** Datagrams larger than this (either way) are dropped and counted. */
  readonly maxDatagram?: number;
  readonly logger?: Logger;
}

export interface UdpLbStats {
  readonly flows: number;
  readonly totalFlows: number;
  readonly expiredFlows: number;
  /** New flows refused: table full, security group, or no backend available. */
  readonly refused: number;
  readonly datagramsIn: number;
  readonly bytesIn: number;
  readonly datagramsOut: number;
  readonly bytesOut: number;
  readonly droppedOversize: number;
  /**
   * Dropped for other reasons: backend socket not yet connected and its queue full. (A send
   * the kernel refuses is not seen: sends are fire-and-forget, as UDP is.)
   */
  readonly dropped: number;
}

/** A datagram socket that can send without a per-send failure callback (transports/udp's). */
interface UncheckedSend {
  sendUnchecked(data: Uint8Array, to: BoundAddress): void;
}

/** Client → backend is "in", backend → client is "out". */
class Counters {
  datagramsIn = 0;
  bytesIn = 0;
  datagramsOut = 0;
  bytesOut = 0;
  droppedOversize = 0;
  dropped = 0;
}

/** One client's flow: a connected backend socket and the lease on its server. */
class Flow implements FlowEntry {
  seen = 0;
  readonly #socket: Socket;
  readonly #lease: ConnectionLease;
  readonly #onClose: () => void;
  /** Datagrams from the client before the backend socket connected; null once connected. */
  #pending: Buffer[] | null = [];
  #closed = false;

  constructor(
    readonly key: string,
    readonly client: BoundAddress,
    lease: ConnectionLease,
    socket: Socket,
    onClose: () => void,
  ) {
    this.#lease = lease;
    this.#socket = socket;
    this.#onClose = onClose;
  }

  get server(): string {
    return this.#lease.server.name;
  }

  connected(): void {
    const pending = this.#pending;
    this.#pending = null;
    if (pending) for (const d of pending) this.#socket.send(d);
  }

  /** False when the datagram had to be dropped. */
  send(data: Buffer): boolean {
    if (this.#closed) return false;
    this.#lease.addBytes(0, data.length);
    if (this.#pending === null) {
      this.#socket.send(data);
      return true;
    }
    if (this.#pending.length >= PENDING_LIMIT) return false;
    this.#pending.push(data);
    return true;
  }

  countReturn(bytes: number): void {
    this.#lease.addBytes(bytes, 0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = null;
    this.#onClose();
    this.#lease.release();
    this.#socket.close();
  }
}

/**
 * A UDP load balancer. Each client address is a flow: its first datagram passes the
 * security group, picks a backend through the upstream (so `source` keeps a client on
 * one backend, wlc counts live flows) and opens one connected backend socket; the
 * flow's datagrams go out on that socket and the answers come back from the listening
 * socket. The listener defends itself: the flow table is bounded (refusals counted),
 * idle flows close, oversize datagrams are dropped and counted, and a flow holds at
 * most PENDING_LIMIT datagrams while its backend socket connects.
 */
export class UdpLB {
  readonly name: string;
  readonly address: Address;
  readonly upstream: Upstream;
  readonly #socket: DatagramFD;
  /** The return path's send: the listener's `sendUnchecked` where it has one (udp://). */
  readonly #sendToClient: (data: Buffer, to: BoundAddress) => void;
  readonly #table: FlowTable<Flow>;
  /**
   * The per-datagram lookup: flows by client port, the host compared as it is
   * (no key string built and hashed per datagram). The table (keyed `host|port`)
   * still owns every flow; a second client on a port already indexed is found
   * there, and a flow leaves this index when it closes.
   */
  readonly #byPort = new Map<number, Flow>();
  readonly #counters = new Counters();
  readonly #log: Logger;
  /** The listener's `rcvbuf`/`sndbuf`, given to every flow's backend socket too. */
  readonly #flowSocket: { recvBufferSize?: number; sendBufferSize?: number };
  #securityGroup: SecurityGroup;
  #maxDatagram: number;
  #closed = false;

  private constructor(options: UdpLbOptions, address: Address, socket: DatagramFD) {
    this.name = options.name;
    this.address = address;
    this.upstream = options.upstream;
    this.#socket = socket;
    const unchecked = (socket as Partial<UncheckedSend>).sendUnchecked;
    this.#sendToClient =
      typeof unchecked === 'function' ? unchecked.bind(socket) : socket.send.bind(socket);
    this.#flowSocket = bufferSizes(address);
    this.#securityGroup = options.securityGroup ?? SecurityGroup.allowAll();
    this.#maxDatagram = checkInt(
      'max-datagram',
      options.maxDatagram ?? UDP_LB_DEFAULTS.maxDatagram,
      1,
      65_535,
    );
    this.#table = new FlowTable<Flow>({
      idleTimeoutMs: checkInt(
        'timeout',
        options.idleTimeoutMs ?? UDP_LB_DEFAULTS.idleTimeoutMs,
        1,
        86_400_000,
      ),
      maxFlows: checkInt('max-flows', options.maxFlows ?? UDP_LB_DEFAULTS.maxFlows, 1, 1_000_000),
    });
    this.#log = (options.logger ?? quietLogger).child({ 'udp-lb': options.name });
    socket.on('message', (data, from) => this.#fromClient(data, from));
    // An error on the listening socket (a send through a transport that reports them, an
    // ICMP error surfacing on a read): logged, and the listener keeps serving.
    socket.on('error', (err) => this.#log.debug('udp-lb-socket-error', errorFields(err)));
  }

  static async start(options: UdpLbOptions): Promise<UdpLB> {
    const address = toAddress(options.address);
    if (address.scheme !== 'udp') {
      throw new VproxyError(
        'ERR_SCHEME_UNKNOWN',
        `udp-lb ${options.name}: ${formatAddress(address)} is not a udp:// address`,
      );
    }
    const socket = await options.registry.bindDatagram(address);
    return new UdpLB(options, address, socket);
  }

  /** Where it listens (the real port when 0 was asked). */
  bound(): BoundAddress {
    return this.#socket.address();
  }

  get securityGroup(): SecurityGroup {
    return this.#securityGroup;
  }

  set securityGroup(group: SecurityGroup) {
    this.#securityGroup = group;
  }

  get idleTimeoutMs(): number {
    return this.#table.idleTimeoutMs;
  }

  get maxFlows(): number {
    return this.#table.maxFlows;
  }

  get maxDatagram(): number {
    return this.#maxDatagram;
  }

  /** Change settings while running; flows already open keep going. */
  update(options: {
    idleTimeoutMs?: number;
    maxFlows?: number;
    maxDatagram?: number;
    securityGroup?: SecurityGroup;
  }): void {
    const table: { idleTimeoutMs?: number; maxFlows?: number } = {};
    if (options.idleTimeoutMs !== undefined) {
      table.idleTimeoutMs = checkInt('timeout', options.idleTimeoutMs, 1, 86_400_000);
    }
    if (options.maxFlows !== undefined) {
      table.maxFlows = checkInt('max-flows', options.maxFlows, 1, 1_000_000);
    }
    if (options.maxDatagram !== undefined) {
      this.#maxDatagram = checkInt('max-datagram', options.maxDatagram, 1, 65_535);
    }
    if (options.securityGroup !== undefined) this.#securityGroup = options.securityGroup;
    this.#table.configure(table);
  }

  stats(): UdpLbStats {
    const c = this.#counters;
    return {
      flows: this.#table.size,
      totalFlows: this.#table.total,
      expiredFlows: this.#table.expired,
      refused: this.#table.refused,
      datagramsIn: c.datagramsIn,
      bytesIn: c.bytesIn,
      datagramsOut: c.datagramsOut,
      bytesOut: c.bytesOut,
      droppedOversize: c.droppedOversize,
      dropped: c.dropped,
    };
  }

  /** The live flows: client and server, for listings. */
  flows(): { client: string; server: string }[] {
    return [...this.#table.values()].map((f) => ({
      client: formatHostPort(f.client.host, f.client.port),
      server: f.server,
    }));
  }

  describe(): string {
    return (
      `${this.name} -> bind ${formatAddress(this.address)} backends ${this.upstream.name}` +
      ` timeout ${this.idleTimeoutMs} max-flows ${this.maxFlows}` +
      ` security-group ${this.#securityGroup.name}`
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#table.close();
    await this.#socket.close();
  }

  #fromClient(data: Buffer, from: BoundAddress): void {
    const c = this.#counters;
    if (data.length > this.#maxDatagram) {
      c.droppedOversize++;
      return;
    }
    let flow = this.#byPort.get(from.port);
    if (flow === undefined || flow.client.host !== from.host) {
      const key = `${from.host}|${from.port}`;
      flow = this.#table.get(key);
      if (flow === undefined) {
        const opened = this.#open(key, from);
        if (opened === null) return;
        flow = opened;
      } else {
        this.#table.touch(flow);
      }
    } else {
      this.#table.touch(flow);
    }
    if (flow.send(data)) {
      c.datagramsIn++;
      c.bytesIn += data.length;
    } else {
      c.dropped++;
    }
  }

  #open(key: string, client: BoundAddress): Flow | null {
    if (this.#closed || !this.#table.admit()) return null;
    if (!this.#securityGroup.allows(client.host, 'udp', this.#socket.address().port)) {
      this.#table.refuse();
      if (this.#log.enabled('info')) {
        this.#log.info('client-denied', {
          client: formatHostPort(client.host, client.port),
          securityGroup: this.#securityGroup.name,
        });
      }
      return null;
    }
    const server = this.upstream.next(client.host);
    if (server === null) {
      this.#table.refuse();
      this.#log.warn('no-backend', {
        client: formatHostPort(client.host, client.port),
        upstream: this.upstream.name,
      });
      return null;
    }
    const target = server.address;
    const socket = createSocket({
      type: isIPv6(target.host) ? 'udp6' : 'udp4',
      ...this.#flowSocket,
    } satisfies SocketOptions);
    const flow = new Flow(key, client, server.acquire(), socket, () => {
      if (this.#byPort.get(client.port) === flow) this.#byPort.delete(client.port);
    });
    const c = this.#counters;
    socket.on('message', (data) => {
      if (data.length > this.#maxDatagram) {
        c.droppedOversize++;
        return;
      }
      this.#table.touch(flow);
      flow.countReturn(data.length);
      c.datagramsOut++;
      c.bytesOut += data.length;
      this.#sendToClient(data, client);
    });
    // ICMP port unreachable surfaces as ECONNREFUSED on a connected socket: the backend
    // is gone. Passive health hears of it; the flow closes so the next datagram repicks.
    socket.on('error', (err) => {
      if (this.#log.enabled('debug')) {
        this.#log.debug('udp-flow-error', { server: server.name, ...errorFields(err) });
      }
      server.reportConnectFailure(err);
      this.#table.delete(key, flow);
      flow.close();
    });
    socket.connect(target.port, target.host, () => flow.connected());
    this.#table.add(key, flow);
    if (!this.#byPort.has(client.port)) this.#byPort.set(client.port, flow);
    return flow;
  }
}

/**
 * The listener's socket buffer sizes (`udp://…?rcvbuf=&sndbuf=`, already checked by the
 * registry when it bound), for the flows' backend sockets: every answer of a flow queues
 * on its backend socket, and with the OS default (about 208 KiB, some 90 datagrams of
 * 1,400 bytes) a burst the listener's buffer takes could overflow it.
 */
function bufferSizes(address: Address): { recvBufferSize?: number; sendBufferSize?: number } {
  const size = (name: string): number => {
    const v = address.options[`udp.${name}`] ?? address.options[name];
    return v === undefined ? 0 : Number(v);
  };
  const rcvbuf = size('rcvbuf');
  const sndbuf = size('sndbuf');
  return {
    ...(rcvbuf > 0 ? { recvBufferSize: rcvbuf } : {}),
    ...(sndbuf > 0 ? { sendBufferSize: sndbuf } : {}),
  };
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new VproxyError(
      'ERR_OPTION_INVALID',
      `udp-lb ${name} must be an integer in ${min}..${max}, got ${value}`,
    );
  }
  return value;
}
