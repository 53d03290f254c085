import { type Address, formatAddress } from '../../src/fd/address.js';
import type { OptionSchema } from '../../src/fd/layer-options.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import { sessionLayer } from '../../src/fd/session-layer.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type {
  ConnectOptions,
  Layer,
  ListenOptions,
  OptionSpec,
  Transport,
} from '../../src/fd/transport.js';
import { MUX_OPTIONS, MUX_SCHEMA, type MuxLayerOptions } from './config.js';
import { SessionPool } from './pool.js';
import { MuxServerFD } from './server.js';

export { MUX_SCHEMA, type MuxLayerOptions, type MuxOptions } from './config.js';
export { MuxServerFD } from './server.js';
export { MuxSession, type MuxSessionEvents } from './session.js';
export { MuxStream } from './stream.js';

/**
 * `mux+<inner>://host:port`: many streams over shared inner connections.
 * connect() opens a stream on a pooled session to the address (see SessionPool);
 * listen() runs a server session on every inner connection and emits its streams.
 */
export function muxLayer(): Layer {
  return sessionLayer({
    schema: MUX_SCHEMA,
    compose: (inner, scheme, read) => new MuxTransport(inner, scheme, read),
  });
}

/**
 * The composed transport; the registry caches it, so its pools live as long as the
 * registry. `read` gives the mux options of an address (parsed once, by the registry):
 * the mux layer's own, or those of a transport that embeds mux (kcp, with its defaults).
 * `schema` is set when this is a base transport of its own (kcp).
 */
export class MuxTransport implements Transport {
  readonly scheme: string;
  readonly options: readonly OptionSpec[];
  readonly schema: OptionSchema | undefined;
  readonly #inner: Transport;
  readonly #read: (address: Address) => MuxLayerOptions;
  readonly #pools = new Map<string, SessionPool>();

  constructor(
    inner: Transport,
    scheme: string,
    read: (address: Address) => MuxLayerOptions,
    schema?: OptionSchema,
  ) {
    this.scheme = scheme;
    this.#inner = inner;
    this.#read = read;
    this.schema = schema;
    this.options = [...MUX_OPTIONS, ...inner.options];
  }

  async connect(address: Address, options: ConnectOptions = {}): Promise<StreamFD> {
    // Validate before any connection is made, so a typo fails fast and clearly.
    const parsed = this.#read(address);
    const key = formatAddress(address);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      const mux = { ...parsed.mux, kind: this.scheme };
      const created = new SessionPool(this.#inner, address, mux, parsed.pool, () => {
        if (this.#pools.get(key) === created) this.#pools.delete(key);
      });
      pool = created;
      this.#pools.set(key, created);
    }
    return pool.open(options);
  }

  async listen(address: Address, options: ListenOptions = {}): Promise<ServerFD> {
    const { mux, handshakeTimeoutSet } = this.#read(address);
    const handshakeTimeoutMs = handshakeTimeoutSet
      ? mux.handshakeTimeoutMs
      : (options.handshakeTimeoutMs ?? mux.handshakeTimeoutMs);
    const server = await this.#inner.listen(address, options);
    return new MuxServerFD(this.scheme, server, { ...mux, handshakeTimeoutMs });
  }

  /** Close every client session pool (gracefully); the registry's owner is stopping. */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((pool) => pool.close()));
  }

  /** The client session pool for an address, if one exists (for tests and status pages). */
  pool(address: Address): SessionPool | undefined {
    return this.#pools.get(formatAddress(address));
  }
}
