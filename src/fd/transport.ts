import type { Address } from './address.js';
import type { DatagramFD } from './datagram-fd.js';
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
}

/** A documented option that an address may carry in its query string. */
export interface OptionSpec {
  readonly name: string;
  readonly description: string;
}

/** Something that can open and accept streams for one (possibly composed) scheme. */
export interface Transport {
  readonly scheme: string;
  readonly options: readonly OptionSpec[];
  connect(address: Address, options?: ConnectOptions): Promise<StreamFD>;
  listen(address: Address, options?: ListenOptions): Promise<ServerFD>;
}

/** A datagram transport (udp), used directly or as the lower layer of kcp. */
export interface DatagramTransport {
  readonly scheme: string;
  readonly options: readonly OptionSpec[];
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
  wrap(inner: Transport, scheme: string): Transport;
}
