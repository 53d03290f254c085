import { type Address, formatAddress } from '../../src/fd/address.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { ConnectOptions, Layer, ListenOptions, Transport } from '../../src/fd/transport.js';
import { MUX_OPTIONS, muxOptionsFromAddress, poolOptionsFromAddress } from './config.js';
import { SessionPool } from './pool.js';
import { MuxServerFD } from './server.js';

export type { MuxOptions } from './config.js';
export { MuxServerFD } from './server.js';
export { MuxSession, type MuxSessionEvents } from './session.js';
export { MuxStream } from './stream.js';

/**
 * `mux+<inner>://host:port`: many streams over shared inner connections.
 * connect() opens a stream on a pooled session to the address (see SessionPool);
 * listen() runs a server session on every inner connection and emits its streams.
 */
export function muxLayer(): Layer {
  return {
    name: 'mux',
    options: MUX_OPTIONS,
    wrap(inner: Transport, scheme: string): Transport {
      return new MuxTransport(inner, scheme);
    },
  };
}

/** The composed transport; the registry caches it, so its pools live as long as the registry. */
export class MuxTransport implements Transport {
  readonly scheme: string;
  readonly options;
  readonly #inner: Transport;
  readonly #pools = new Map<string, SessionPool>();

  constructor(inner: Transport, scheme: string) {
    this.scheme = scheme;
    this.#inner = inner;
    this.options = [...MUX_OPTIONS, ...inner.options];
  }

  async connect(address: Address, options: ConnectOptions = {}): Promise<StreamFD> {
    // Validate before any connection is made, so a typo fails fast and clearly.
    const mux = { ...muxOptionsFromAddress(address), kind: this.scheme };
    const poolOptions = poolOptionsFromAddress(address);
    const key = formatAddress(address);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      const created = new SessionPool(this.#inner, address, mux, poolOptions, () => {
        if (this.#pools.get(key) === created) this.#pools.delete(key);
      });
      pool = created;
      this.#pools.set(key, created);
    }
    return pool.open(options);
  }

  async listen(address: Address, options: ListenOptions = {}): Promise<ServerFD> {
    const mux = muxOptionsFromAddress(address);
    poolOptionsFromAddress(address);
    const handshakeTimeoutMs =
      address.options['handshake-timeout'] === undefined
        ? (options.handshakeTimeoutMs ?? mux.handshakeTimeoutMs)
        : mux.handshakeTimeoutMs;
    const server = await this.#inner.listen(address, options);
    return new MuxServerFD(this.scheme, server, { ...mux, handshakeTimeoutMs });
  }

  /** The client session pool for an address, if one exists (for tests and status pages). */
  pool(address: Address): SessionPool | undefined {
    return this.#pools.get(formatAddress(address));
  }
}
