import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type Address, formatHostPort } from '../fd/address.js';
import type { DatagramFD } from '../fd/datagram-fd.js';
import { errorFields, type Logger, quietLogger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { BoundAddress, ServerFD } from '../fd/server-fd.js';
import type { StreamFD } from '../fd/stream-fd.js';
import { DatagramDecoder, encodeDatagram } from '../protocols/datagram-frame/index.js';
import { type FlowEntry, FlowTable } from './flow-table.js';

/**
 * UDP flows through stream tunnels, one stream per flow, datagrams framed by
 * datagram-frame (2-byte length). The near side (`UdpToStreamRelay`) listens on UDP
 * and opens a stream per client address; the far side (`StreamToUdpRelay`) accepts
 * streams and gives each a connected UDP socket towards the backend. Both bound the
 * flows they hold (refusals counted), close idle flows, and drop (and count) a
 * datagram rather than queue it when the stream is not draining: UDP may lose, a
 * relay that buffers without bound may not.
 */

export interface DatagramTarget {
  readonly address: Address;
  /** The flow ended (release a lease, count). */
  done(): void;
}

export interface DatagramRelayOptions {
  readonly registry: Registry;
  /** Where a new flow goes; null refuses it (no backend up). */
  readonly pick: (clientHost: string) => DatagramTarget | null;
  readonly idleTimeoutMs: number;
  /** Default 4,096. */
  readonly maxFlows?: number;
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
}

export interface DatagramRelayStats {
  readonly flows: number;
  readonly totalFlows: number;
  readonly expiredFlows: number;
  readonly refused: number;
  /** Client → backend direction. */
  readonly datagramsIn: number;
  readonly bytesIn: number;
  readonly datagramsOut: number;
  readonly bytesOut: number;
  /** Dropped: stream not draining, not yet connected and queue full, bad frames. */
  readonly dropped: number;
}

/** Bytes a flow's stream may hold unsent before datagrams are dropped instead. */
const STREAM_BUFFER_LIMIT = 256 * 1024;
/** Datagrams held while a flow's stream or socket connects. */
const PENDING_LIMIT = 64;

class Counters {
  datagramsIn = 0;
  bytesIn = 0;
  datagramsOut = 0;
  bytesOut = 0;
  dropped = 0;
}

abstract class RelayBase<F extends FlowEntry> {
  protected readonly table: FlowTable<F>;
  protected readonly counters = new Counters();
  protected readonly log: Logger;
  protected readonly options: DatagramRelayOptions;
  protected closed = false;

  constructor(options: DatagramRelayOptions) {
    this.options = options;
    this.log = options.logger ?? quietLogger;
    this.table = new FlowTable<F>({
      idleTimeoutMs: options.idleTimeoutMs,
      maxFlows: options.maxFlows ?? 4096,
    });
  }

  stats(): DatagramRelayStats {
    const c = this.counters;
    return {
      flows: this.table.size,
      totalFlows: this.table.total,
      expiredFlows: this.table.expired,
      refused: this.table.refused,
      datagramsIn: c.datagramsIn,
      bytesIn: c.bytesIn,
      datagramsOut: c.datagramsOut,
      bytesOut: c.bytesOut,
      dropped: c.dropped,
    };
  }

  /** Write one framed datagram, or drop it when the stream is not draining. */
  protected writeFramed(stream: StreamFD, datagram: Buffer): boolean {
    if (stream.destroyed || stream.writableLength > STREAM_BUFFER_LIMIT) {
      this.counters.dropped++;
      return false;
    }
    stream.write(encodeDatagram(datagram));
    return true;
  }
}

/** Near side: a UDP client's flow, carried by one stream. */
class StreamFlow implements FlowEntry {
  seen = 0;
  stream: StreamFD | null = null;
  pending: Buffer[] | null = [];
  closed = false;
  constructor(
    readonly key: string,
    readonly target: DatagramTarget,
    readonly abort: AbortController,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    this.abort.abort();
    this.stream?.destroy();
    this.target.done();
  }
}

export class UdpToStreamRelay extends RelayBase<StreamFlow> {
  readonly #socket: DatagramFD;

  constructor(socket: DatagramFD, options: DatagramRelayOptions) {
    super(options);
    this.#socket = socket;
    socket.on('message', (data, from) => this.#fromClient(data, from));
    socket.on('error', (err) => this.log.debug('udp-send-failed', errorFields(err)));
  }

  address(): BoundAddress {
    return this.#socket.address();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.table.close();
    await this.#socket.close();
  }

  #fromClient(data: Buffer, from: BoundAddress): void {
    const key = `${from.host}|${from.port}`;
    let flow = this.table.get(key);
    if (flow === undefined) {
      if (this.closed || !this.table.admit()) return;
      const target = this.options.pick(from.host);
      if (target === null) {
        this.table.refuse();
        return;
      }
      flow = new StreamFlow(key, target, new AbortController());
      this.table.add(key, flow);
      void this.#connect(flow, from);
    } else {
      this.table.touch(flow);
    }
    const c = this.counters;
    if (flow.stream !== null) {
      if (!this.writeFramed(flow.stream, data)) return;
    } else if (flow.pending !== null && flow.pending.length < PENDING_LIMIT) {
      flow.pending.push(data);
    } else {
      c.dropped++;
      return;
    }
    c.datagramsIn++;
    c.bytesIn += data.length;
  }

  async #connect(flow: StreamFlow, client: BoundAddress): Promise<void> {
    let stream: StreamFD;
    try {
      stream = await this.options.registry.connect(flow.target.address, {
        signal: flow.abort.signal,
        ...(this.options.connectTimeoutMs === undefined
          ? {}
          : { timeoutMs: this.options.connectTimeoutMs }),
      });
    } catch (err) {
      if (!flow.closed) {
        this.log.warn('tunnel-connect-failed', {
          client: formatHostPort(client.host, client.port),
          ...errorFields(err),
        });
        this.counters.dropped += flow.pending?.length ?? 0;
        this.table.delete(flow.key, flow);
        flow.close();
      }
      return;
    }
    if (flow.closed) {
      stream.destroy();
      return;
    }
    flow.stream = stream;
    const pending = flow.pending ?? [];
    flow.pending = null;
    for (const d of pending) stream.write(encodeDatagram(d));
    const c = this.counters;
    const decoder = new DatagramDecoder((d) => {
      this.table.touch(flow);
      c.datagramsOut++;
      c.bytesOut += d.length;
      // A copy: `d` may be a view of a buffer the stream's transport reuses, and a
      // datagram send completes later.
      this.#socket.send(Buffer.from(d), client);
    });
    const end = (err?: Error): void => {
      if (err && this.log.enabled('debug')) this.log.debug('tunnel-flow-error', errorFields(err));
      this.table.delete(flow.key, flow);
      flow.close();
    };
    stream.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        c.dropped++;
        end(err as Error);
      }
    });
    stream.on('end', () => end());
    stream.on('error', end);
    stream.on('close', () => end());
  }
}

/** Far side: a stream's flow, with one connected UDP socket towards the backend. */
class SocketFlow implements FlowEntry {
  seen = 0;
  closed = false;
  constructor(
    readonly key: string,
    readonly stream: StreamFD,
    readonly socket: Socket,
    readonly target: DatagramTarget,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.destroy();
    this.socket.close();
    this.target.done();
  }
}

export class StreamToUdpRelay extends RelayBase<SocketFlow> {
  readonly #server: ServerFD;
  #ids = 0;

  constructor(server: ServerFD, options: DatagramRelayOptions) {
    super(options);
    this.#server = server;
    server.on('connection', (stream) => this.#accept(stream));
    server.on('error', (err) => this.log.warn('listener-error', errorFields(err)));
  }

  address(): BoundAddress {
    return this.#server.address();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.#server.close();
    this.table.close();
  }

  #accept(stream: StreamFD): void {
    if (this.closed || !this.table.admit()) {
      stream.destroy();
      return;
    }
    const target = this.options.pick(stream.remoteAddress ?? '');
    if (target === null) {
      this.table.refuse();
      stream.destroy();
      return;
    }
    const address = target.address;
    const socket = createSocket(isIPv6(address.host) ? 'udp6' : 'udp4');
    const key = String(++this.#ids);
    const flow = new SocketFlow(key, stream, socket, target);
    this.table.add(key, flow);
    const c = this.counters;
    let pending: Buffer[] | null = [];
    const end = (err?: Error): void => {
      if (err && this.log.enabled('debug')) this.log.debug('udp-flow-error', errorFields(err));
      this.table.delete(key, flow);
      flow.close();
    };
    socket.on('message', (d) => {
      this.table.touch(flow);
      if (!this.writeFramed(stream, d)) return;
      c.datagramsOut++;
      c.bytesOut += d.length;
    });
    // ECONNREFUSED (ICMP port unreachable) included: the backend is gone, end the flow.
    socket.on('error', end);
    socket.connect(address.port, address.host, () => {
      const queued = pending ?? [];
      pending = null;
      if (!flow.closed) for (const d of queued) socket.send(d);
    });
    // Copies of `d` go to the socket, as on the near side (a send completes later).
    const decoder = new DatagramDecoder((d) => {
      this.table.touch(flow);
      if (flow.closed) return;
      if (pending === null) socket.send(Buffer.from(d));
      else if (pending.length < PENDING_LIMIT) pending.push(Buffer.from(d));
      else {
        c.dropped++;
        return;
      }
      c.datagramsIn++;
      c.bytesIn += d.length;
    });
    stream.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        c.dropped++;
        end(err as Error);
      }
    });
    stream.on('end', () => end());
    stream.on('error', end);
    stream.on('close', () => end());
  }
}
