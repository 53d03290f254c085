import { type Address, parseAddress, toAddress } from './address.js';
import type { DatagramFD } from './datagram-fd.js';
import { VproxyError } from './errors.js';
import {
  type OptionSchema,
  plainSchema,
  resolveStackOptions,
  type StackEntry,
} from './layer-options.js';
import { type Logger, quietLogger } from './logger.js';
import type { ServerFD } from './server-fd.js';
import type { StreamFD } from './stream-fd.js';
import type {
  ConnectOptions,
  DatagramTransport,
  Layer,
  ListenOptions,
  Transport,
} from './transport.js';

export interface RegistryOptions {
  /** The transport under a stack that names only layers (`tls://` = `tls+tcp://`). */
  readonly defaultBase?: string;
  /** Where deprecation warnings (old option spellings) go, once per address. */
  readonly logger?: Logger;
}

/**
 * Maps schemes to transports. A composed scheme such as `tls+tcp` is resolved by
 * wrapping the base transport (the last part) in each layer, innermost first;
 * the composition is built once per registry and cached, so layers that pool
 * inner connections (mux) share them across calls. Aliases (`tls` = `tls+tcp`)
 * expand before composition. There is no global registry: each program builds one.
 *
 * Options: each layer of a stack owns a prefix (`mux.window=`, `kcp.mode=`); a bare name
 * is taken where exactly one layer knows it (src/fd/layer-options.ts). An address is
 * parsed once, into a frozen typed object per layer, the first time it is parsed,
 * connected or listened on, and kept in layer-options.ts's cache (the only one) under the
 * Address object: backends are dialled again and again with the same one.
 */
export class Registry {
  readonly #transports = new Map<string, Transport>();
  readonly #layers = new Map<string, Layer>();
  readonly #datagrams = new Map<string, DatagramTransport>();
  readonly #aliases = new Map<string, string>();
  readonly #composed = new Map<string, Transport>();
  /** Every transport with something to close beyond its streams (base or built by a layer). */
  readonly #closeable = new Set<Transport>();
  /** The option schemas of each composed scheme, outermost first. */
  readonly #stacks = new Map<string, readonly StackEntry[]>();
  readonly #defaultBase: string;
  readonly #logger: Logger;

  /** A string is the default base, as before options existed (`new Registry('kcp')`). */
  constructor(options: string | RegistryOptions = {}) {
    const o = typeof options === 'string' ? { defaultBase: options } : options;
    this.#defaultBase = o.defaultBase ?? 'tcp';
    this.#logger = o.logger ?? quietLogger;
  }

  registerTransport(transport: Transport): this {
    this.#claim(transport.scheme);
    this.#transports.set(transport.scheme, transport);
    if (transport.close !== undefined) this.#closeable.add(transport);
    return this;
  }

  registerLayer(layer: Layer): this {
    this.#claim(layer.name);
    this.#layers.set(layer.name, layer);
    return this;
  }

  registerDatagram(transport: DatagramTransport): this {
    this.#claim(transport.scheme);
    this.#datagrams.set(transport.scheme, transport);
    return this;
  }

  /** `alias` stands for `scheme`, e.g. `wss` for `ws+tls+tcp`. */
  registerAlias(alias: string, scheme: string): this {
    this.#claim(alias);
    this.#aliases.set(alias, scheme);
    return this;
  }

  /** Every scheme a user can write, for help texts and error messages. */
  schemes(): string[] {
    return [...this.#transports.keys(), ...this.#datagrams.keys(), ...this.#aliases.keys()]
      .concat([...this.#layers.keys()].map((l) => `${l}+…`))
      .sort();
  }

  /**
   * Close what the transports hold beyond the streams they handed out: pooled
   * client sessions (mux, kcp), gracefully. For the registry's owner when it stops;
   * the registry stays usable (a later connect opens a fresh session).
   */
  async close(): Promise<void> {
    await Promise.all([...this.#closeable].map((t) => t.close?.()));
  }

  /** The (composed) stream transport for a scheme. */
  resolve(scheme: string): Transport {
    const cached = this.#composed.get(scheme);
    if (cached) return cached;
    const parts = this.#expand(scheme);
    const baseName = parts[parts.length - 1] ?? '';
    let transport = this.#transports.get(baseName);
    if (!transport) {
      const hint = this.#datagrams.has(baseName) ? ' (it is a datagram transport)' : '';
      throw new VproxyError(
        'ERR_SCHEME_UNKNOWN',
        `unknown scheme "${scheme}": no stream transport "${baseName}"${hint}; known: ${this.schemes().join(', ')}`,
      );
    }
    const stack: StackEntry[] = [
      { schema: transport.schema ?? plainSchema(baseName, transport.options), kind: baseName },
    ];
    for (let i = parts.length - 2; i >= 0; i--) {
      const name = parts[i] ?? '';
      const layer = this.#layers.get(name);
      if (!layer) {
        throw new VproxyError(
          'ERR_SCHEME_UNKNOWN',
          `unknown scheme "${scheme}": no layer "${name}"; known layers: ${[...this.#layers.keys()].join(', ') || 'none'}`,
        );
      }
      const kind = parts.slice(i).join('+');
      transport = layer.wrap(transport, kind);
      // A layer under another (mux under tls) is not cached by scheme: remember it here.
      if (transport.close !== undefined) this.#closeable.add(transport);
      stack.unshift({ schema: layer.schema ?? plainSchema(name, layer.options), kind });
    }
    this.#composed.set(scheme, transport);
    this.#stacks.set(scheme, stack);
    return transport;
  }

  /**
   * The option schemas of a scheme's stack, outermost first (`mux+kcp` → mux, kcp): what
   * each prefix means, for help texts and for tests that look for collisions.
   */
  optionSchemas(scheme: string): readonly OptionSchema[] {
    this.resolve(scheme);
    return (this.#stacks.get(scheme) ?? []).map((e) => e.schema);
  }

  /**
   * Parse an address a user typed and check it against this registry: the
   * scheme is resolved before the host and port are read, so `foo://x` names
   * the unknown scheme rather than the missing port, and unknown, ambiguous or bad
   * options are refused now instead of at the first connect. The parsed options stay
   * with the returned Address object: connecting with it does not parse them again.
   */
  parse(text: string): Address {
    const scheme = /^([a-z][a-z0-9+-]*):\/\//i.exec(text)?.[1];
    if (scheme !== undefined) this.resolve(scheme.toLowerCase());
    const addr = parseAddress(text);
    this.#check(addr);
    return addr;
  }

  async connect(address: string | Address, options?: ConnectOptions): Promise<StreamFD> {
    const addr = toAddress(address);
    const transport = this.resolve(addr.scheme);
    this.#check(addr);
    return transport.connect(addr, options);
  }

  /**
   * Start connecting through a transport that dials synchronously (see
   * `Transport.dial`): the stream comes back at once, connecting; null when the
   * address's transport has no dial (a layer, kcp…): use `connect()`.
   */
  dial(address: Address): StreamFD | null {
    const transport = this.resolve(address.scheme);
    if (transport.dial === undefined) return null;
    this.#check(address);
    return transport.dial(address);
  }

  async listen(address: string | Address, options?: ListenOptions): Promise<ServerFD> {
    const addr = toAddress(address);
    const transport = this.resolve(addr.scheme);
    this.#check(addr);
    return transport.listen(addr, options);
  }

  /** Check and parse the options of `addr` for its stack (once per address object). */
  #check(addr: Address): void {
    this.resolve(addr.scheme);
    resolveStackOptions(addr, this.#stacks.get(addr.scheme) ?? [], this.#logger);
  }

  async bindDatagram(address: string | Address): Promise<DatagramFD> {
    const addr = toAddress(address);
    const transport = this.#datagrams.get(addr.scheme);
    if (!transport) {
      throw new VproxyError(
        'ERR_SCHEME_UNKNOWN',
        `"${addr.scheme}" is not a datagram transport; known: ${[...this.#datagrams.keys()].join(', ')}`,
      );
    }
    const schema = transport.schema ?? plainSchema(transport.scheme, transport.options);
    resolveStackOptions(addr, [{ schema, kind: addr.scheme }], this.#logger);
    return transport.bind(addr);
  }

  #expand(scheme: string): string[] {
    const out: string[] = [];
    for (const part of scheme.split('+')) {
      const alias = this.#aliases.get(part);
      out.push(...(alias === undefined ? [part] : alias.split('+')));
    }
    // `tls://` means `tls+tcp://`: a stack that ends in a layer runs over the default base.
    if (this.#layers.has(out[out.length - 1] ?? '')) out.push(this.#defaultBase);
    return out;
  }

  #claim(name: string): void {
    if (
      this.#transports.has(name) ||
      this.#layers.has(name) ||
      this.#datagrams.has(name) ||
      this.#aliases.has(name)
    ) {
      throw new VproxyError('ERR_SCHEME_DUPLICATE', `scheme "${name}" is already registered`);
    }
  }
}
