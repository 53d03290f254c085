import { EventEmitter } from 'node:events';
import type { Address } from './address.js';
import type { DatagramFD, DatagramFDEvents } from './datagram-fd.js';
import { layerOptions, type OptionSchema } from './layer-options.js';
import type { BoundAddress } from './server-fd.js';
import type { DatagramTransport, Layer, Transport } from './transport.js';

// The other two shapes of the layer helper (stream-layer.ts has the per-stream one):
// - a session layer shares inner connections between many outer streams (mux; kcp's
//   stream side is mux with its own schema; smux over a kcp session would be one too);
// - a packet layer transforms datagrams on their way to and from a DatagramFD (kcp-go
//   crypt, FEC), under a session layer that turns them into streams.
// All three read their options the same way: parsed once per address by the registry,
// into the frozen object of their schema, read back with `layerOptions`.

export interface SessionLayerSpec<T extends object> {
  /** Its options; `schema.prefix` is the layer name. */
  readonly schema: OptionSchema<T>;
  /**
   * The composed transport (one per registry and scheme, so it can pool sessions). `read`
   * gives an address's options of this layer; deadline and abort are the transport's to
   * honour on `connect` (mux's SessionPool runs them through `awaitReady`).
   */
  compose(inner: Transport, kind: string, read: (address: Address) => T): Transport;
}

export function sessionLayer<T extends object>(spec: SessionLayerSpec<T>): Layer {
  const { schema } = spec;
  return {
    name: schema.prefix,
    options: schema.specs,
    schema,
    wrap: (inner, kind) =>
      spec.compose(inner, kind, (address) => layerOptions(address, schema, kind)),
  };
}

/**
 * One datagram's way through a packet layer. `encode` may give several datagrams (FEC adds
 * parity) and `decode` none (a forged or incomplete one) or several (FEC recovers lost
 * ones); both may reuse their input.
 */
export interface PacketCodec {
  encode(datagram: Buffer): readonly Buffer[];
  decode(datagram: Buffer, from: BoundAddress): readonly Buffer[];
}

export interface PacketLayerSpec<T extends object> {
  readonly schema: OptionSchema<T>;
  /** A codec per bound endpoint (they keep state: FEC groups, nonces). */
  codec(options: T, address: Address): PacketCodec;
}

/** A layer over a datagram transport: `crypt+udp`, `fec+crypt+udp`. */
export interface PacketLayer {
  readonly name: string;
  readonly schema: OptionSchema;
  wrap(inner: DatagramTransport, kind: string): DatagramTransport;
}

export function packetLayer<T extends object>(spec: PacketLayerSpec<T>): PacketLayer {
  const { schema } = spec;
  return {
    name: schema.prefix,
    schema,
    wrap(inner: DatagramTransport, kind: string): DatagramTransport {
      return {
        scheme: kind,
        options: [...schema.specs, ...inner.options],
        async bind(address: Address): Promise<DatagramFD> {
          const codec = spec.codec(layerOptions(address, schema, kind), address);
          return new CodecDatagramFD(kind, await inner.bind(address), codec);
        },
      };
    },
  };
}

/** A DatagramFD whose datagrams pass through a codec both ways. */
class CodecDatagramFD extends EventEmitter<DatagramFDEvents> implements DatagramFD {
  readonly kind: string;
  readonly #inner: DatagramFD;
  readonly #codec: PacketCodec;

  constructor(kind: string, inner: DatagramFD, codec: PacketCodec) {
    super();
    this.kind = kind;
    this.#inner = inner;
    this.#codec = codec;
    inner.on('message', (data, from) => {
      let out: readonly Buffer[];
      try {
        out = codec.decode(data, from);
      } catch {
        // A datagram the codec cannot read is dropped, as the network might have: never fatal.
        return;
      }
      for (const d of out) this.emit('message', d, from);
    });
    inner.on('error', (err) => this.emit('error', err));
  }

  address(): BoundAddress {
    return this.#inner.address();
  }

  send(data: Uint8Array, to: BoundAddress): void {
    const buf = Buffer.isBuffer(data)
      ? data
      : Buffer.from(data.buffer, data.byteOffset, data.length);
    for (const d of this.#codec.encode(buf)) this.#inner.send(d, to);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
