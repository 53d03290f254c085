import { EventEmitter } from 'node:events';
import { type Address, formatHostPort } from './address.js';
import { awaitReady } from './deadline.js';
import { VproxyError } from './errors.js';
import { layerOptions, type OptionSchema } from './layer-options.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from './server-fd.js';
import type { StreamFD } from './stream-fd.js';
import type { ConnectOptions, Layer, ListenOptions, Transport } from './transport.js';

/**
 * A handshake in progress over one inner stream. `ready` gives the outer stream; `watch`,
 * when given, is watched meanwhile so that its peer ending or closing fails the handshake
 * at once; `abort()` destroys whatever was or will be built, the inner stream too.
 */
export interface Handshake {
  readonly ready: Promise<StreamFD>;
  readonly watch?: StreamFD;
  abort(): void;
}

/** A handshake whose outer stream exists from the start (tls): done when `done` settles. */
export function handshakeOn(stream: StreamFD, done: Promise<unknown>, inner: StreamFD): Handshake {
  return {
    ready: done.then(() => stream),
    watch: stream,
    abort() {
      stream.destroy();
      inner.destroy();
    },
  };
}

/** Where a layer is used: the address and the scheme from this layer down (its streams' kind). */
export interface LayerTarget {
  readonly address: Address;
  readonly kind: string;
}

/**
 * A layer that wraps each inner stream on its own (tls, ws; smux or snappy over one kcp
 * session would be the same shape). The helper owns the rest: its options are parsed once
 * (by the registry, read back with `layerOptions`), the connect deadline and abort signal
 * cover the inner connect and the handshake, a handshake that fails or outlives its
 * deadline destroys both streams, and listeners drop clients that do not finish it.
 */
export interface StreamLayerSpec<T extends object> {
  /** Its options; `schema.prefix` is the layer name. */
  readonly schema: OptionSchema<T>;
  /** Checks that only a client needs (a CA file to read), before anything connects. */
  prepareClient?(options: T, target: LayerTarget): void;
  client(inner: StreamFD, options: T, target: LayerTarget): Handshake;
  /** Once per listen (files are read once): the per-connection handshake. */
  server(options: T, target: LayerTarget): Promise<(inner: StreamFD) => Handshake>;
  /**
   * A listener of its own instead of the generic one, for a layer whose server does more
   * than one handshake per stream (ws answers plain HTTP in front of the upgrade). Called
   * before the inner listener binds, so bad options bind nothing; the result wraps it.
   */
  listener?(
    options: T,
    target: LayerTarget,
    handshakeTimeoutMs: number,
  ): (inner: ServerFD) => ServerFD;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_PENDING_HANDSHAKES = 1024;

/**
 * `ready`, or a rejection as soon as the peer ends or the stream closes first. A
 * TLSSocket over a half-open inner stream sees the client's FIN as 'end' and then
 * waits for a handshake that cannot come: without this, every connect-and-close
 * held two fds and a TLS context until the handshake deadline (a 5,000-connection
 * flood held 4,800 fds and 300 MB for 10 s).
 */
function readyUnlessClosed(ready: Promise<unknown>, stream: StreamFD, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onGone = () => {
      cleanup();
      reject(new VproxyError('ERR_HANDSHAKE_CLOSED', `${what}: the peer closed the connection`));
    };
    const cleanup = () => {
      stream.off('end', onGone);
      stream.off('close', onGone);
    };
    stream.once('end', onGone);
    stream.once('close', onGone);
    ready.then(
      () => {
        cleanup();
        resolve();
      },
      (err: unknown) => {
        cleanup();
        reject(err);
      },
    );
  });
}

export function streamLayer<T extends object>(spec: StreamLayerSpec<T>): Layer {
  const { schema } = spec;
  const name = schema.prefix;
  return {
    name,
    options: schema.specs,
    schema,
    wrap(inner: Transport, scheme: string): Transport {
      return {
        scheme,
        options: [...schema.specs, ...inner.options],
        async connect(address: Address, opts: ConnectOptions = {}): Promise<StreamFD> {
          const target = { address, kind: scheme };
          // Bad options fail before anything connects.
          const options = layerOptions(address, schema, scheme);
          spec.prepareClient?.(options, target);
          const started = Date.now();
          const fd = await inner.connect(address, opts);
          const left =
            opts.timeoutMs === undefined
              ? undefined
              : Math.max(1, opts.timeoutMs - (Date.now() - started));
          let hs: Handshake;
          try {
            hs = spec.client(fd, options, target);
          } catch (err) {
            fd.destroy();
            throw err;
          }
          const what = `${name} handshake with ${formatHostPort(address.host, address.port)}`;
          let stream: StreamFD | undefined;
          await awaitReady(
            watched(hs, what).then((s) => {
              stream = s;
            }),
            { timeoutMs: left, signal: opts.signal },
            what,
            () => hs.abort(),
          );
          return stream as StreamFD;
        },
        async listen(address: Address, opts: ListenOptions = {}): Promise<ServerFD> {
          const target = { address, kind: scheme };
          const options = layerOptions(address, schema, scheme);
          const timeoutMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
          if (spec.listener !== undefined) {
            const own = spec.listener(options, target, timeoutMs);
            return own(await inner.listen(address, opts));
          }
          const wrapper = await spec.server(options, target);
          const server = await inner.listen(address, opts);
          const maxPending = opts.maxPendingHandshakes ?? DEFAULT_MAX_PENDING_HANDSHAKES;
          return new LayeredServerFD(scheme, server, wrapper, timeoutMs, maxPending);
        },
      };
    },
  };
}

/** `hs.ready`, failing early when its watched stream ends or closes first. */
function watched(hs: Handshake, what: string): Promise<StreamFD> {
  const watch = hs.watch;
  if (watch === undefined) return hs.ready;
  return readyUnlessClosed(hs.ready, watch, what).then(() => hs.ready);
}

/** Accepts from the inner listener and emits only streams that finished the layer handshake. */
class LayeredServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind: string;
  readonly #inner: ServerFD;
  readonly #pending = new Set<Handshake>();

  constructor(
    kind: string,
    inner: ServerFD,
    wrap: (inner: StreamFD) => Handshake,
    handshakeTimeoutMs: number,
    maxPending: number,
  ) {
    super();
    this.kind = kind;
    this.#inner = inner;
    inner.on('error', (err) => this.emit('error', err));
    inner.on('handshakeError', (err) => this.emit('handshakeError', err));
    inner.on('connection', (fd) => {
      let hs: Handshake;
      try {
        hs = wrap(fd);
      } catch (err) {
        fd.destroy();
        this.emit('handshakeError', err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (this.#pending.size >= maxPending) this.#evictOldest(kind, maxPending);
      this.#pending.add(hs);
      const what = `${kind} handshake`;
      let stream: StreamFD | undefined;
      const ready = watched(hs, what).then((s) => {
        stream = s;
      });
      awaitReady(ready, { timeoutMs: handshakeTimeoutMs }, what, () => hs.abort()).then(
        () => {
          this.#pending.delete(hs);
          if (stream === undefined || stream.destroyed) return;
          this.emit('connection', stream);
        },
        (err: Error) => {
          // An evicted handshake was reported when evicted; one dropped by close() has no one to tell.
          if (!this.#pending.delete(hs)) return;
          const reason =
            err instanceof VproxyError && err.code === 'ERR_CONNECT_TIMEOUT'
              ? new VproxyError('ERR_HANDSHAKE_TIMEOUT', err.message)
              : err;
          this.emit('handshakeError', reason);
        },
      );
    });
  }

  /**
   * Drop the oldest handshake rather than refuse the newest (as a SYN cache
   * does): a flood of silent clients then only ever costs `maxPending` contexts,
   * and a real client, which handshakes in milliseconds, is not the one evicted.
   */
  #evictOldest(kind: string, maxPending: number): void {
    const oldest = this.#pending.values().next().value;
    if (oldest === undefined) return;
    this.#pending.delete(oldest);
    oldest.abort();
    this.emit(
      'handshakeError',
      new VproxyError(
        'ERR_HANDSHAKE_LIMIT',
        `${kind} handshake: dropped the oldest of ${maxPending} handshakes in progress`,
      ),
    );
  }

  address(): BoundAddress {
    return this.#inner.address();
  }

  async close(): Promise<void> {
    // Half-handshaken clients belong to no one yet: the listener owns them.
    for (const hs of this.#pending) hs.abort();
    this.#pending.clear();
    await this.#inner.close();
  }
}
