import type { Address } from './address.js';
import type { DatagramFD } from './datagram-fd.js';
import type { OptionSchema } from './layer-options.js';
import type { ServerFD } from './server-fd.js';
import type { StreamFD } from './stream-fd.js';

export interface ConnectOptions {
  /** Give up (ERR_CONNECT_TIMEOUT) when the stream is not ready after this long, layers included. */
  readonly timeoutMs?: number;
  /** Abort the attempt (ERR_CONNECT_ABORTED); the half-open stream is destroyed. */
  readonly signal?: AbortSignal;
}

export interface ListenOptions {
  /** A client that has not finished every layer handshake after this long is dropped. */
  readonly handshakeTimeoutMs?: number;
  /**
   * Most layer handshakes in progress at once (default 1,024); past it the oldest
   * is dropped (ERR_HANDSHAKE_LIMIT), so slow or silent clients cannot hold more
   * than this many TLS contexts, while a client that handshakes promptly still gets in.
   */
  readonly maxPendingHandshakes?: number;
}

/** A documented option that an address may carry in its query string. */
export interface OptionSpec {
  readonly name: string;
  readonly description: string;
}

/**
 * Something that can open and accept streams for one (possibly composed) scheme.
 * `options` lists every name of the stack, bare, for help texts; a base transport's own
 * options are described by `schema` (prefix = its scheme), parsed once per address by the
 * registry and read back with `layerOptions(address, schema)`. Without a schema its
 * `options` are taken as plain strings.
 */
export interface Transport {
  readonly scheme: string;
  readonly options: readonly OptionSpec[];
  readonly schema?: OptionSchema;
  connect(address: Address, options?: ConnectOptions): Promise<StreamFD>;
  listen(address: Address, options?: ListenOptions): Promise<ServerFD>;
  /**
   * Optional, for a stream that is usable the moment it connects (plain tcp):
   * start connecting and return the stream at once. It emits 'connect' when
   * ready or 'error' when the connect fails; the caller times it out and
   * aborts it (destroy). The proxy's accept path uses it to connect with no
   * promise, timer or AbortSignal per connection. A layer never inherits it.
   */
  dial?(address: Address): StreamFD;
  /**
   * Optional: release what the transport holds beyond the streams it handed out
   * (a pool of client sessions). Registry.close() calls it.
   */
  close?(): Promise<void>;
}

/**
 * A datagram transport (udp). KCP does not bind through it: its endpoints own their
 * node:dgram socket (a connected client socket, sends without a per-datagram callback),
 * see transports/kcp/session/endpoint.ts. Packet layers (kcp-go crypt, FEC) wrap a
 * DatagramFD with `packetLayer` (src/fd/session-layer.ts).
 */
export interface DatagramTransport {
  readonly scheme: string;
  readonly options: readonly OptionSpec[];
  readonly schema?: OptionSchema;
  bind(address: Address): Promise<DatagramFD>;
}

/**
 * A layer turns a transport into another transport (`tls` over `tcp` gives
 * `tls+tcp`). Wrapping the whole transport rather than a single stream lets a
 * layer such as mux share one inner stream between many outer ones.
 */
export interface Layer {
  readonly name: string;
  readonly options: readonly OptionSpec[];
  /** Its options (prefix = its name); build layers with `streamLayer` / `sessionLayer`. */
  readonly schema?: OptionSchema;
  wrap(inner: Transport, scheme: string): Transport;
}
