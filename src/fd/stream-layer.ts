import { EventEmitter } from 'node:events';
import type { Address } from './address.js';
import { awaitReady } from './deadline.js';
import { VproxyError } from './errors.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from './server-fd.js';
import type { StreamFD } from './stream-fd.js';
import type { ConnectOptions, Layer, ListenOptions, OptionSpec, Transport } from './transport.js';

/** The outer stream of a layer, usable once `ready` resolves. */
export interface Handshake {
  readonly stream: StreamFD;
  readonly ready: Promise<unknown>;
}

/** A layer that wraps each stream on its own (tls, ws), as opposed to mux. */
export interface StreamLayerHooks {
  /** Check the address's options before anything connects, so a typo fails fast and clearly. */
  validate?(address: Address): void;
  client(inner: StreamFD, address: Address, kind: string): Handshake;
  /** Called once per listen: returns the per-connection wrapper (so files are read once). */
  server(address: Address, kind: string): Promise<(inner: StreamFD) => Handshake>;
}

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

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

export function streamLayer(
  name: string,
  options: readonly OptionSpec[],
  hooks: StreamLayerHooks,
): Layer {
  return {
    name,
    options,
    wrap(inner: Transport, scheme: string): Transport {
      return {
        scheme,
        options: [...options, ...inner.options],
        async connect(address: Address, opts: ConnectOptions = {}): Promise<StreamFD> {
          hooks.validate?.(address);
          const started = Date.now();
          const fd = await inner.connect(address, opts);
          const left =
            opts.timeoutMs === undefined
              ? undefined
              : Math.max(1, opts.timeoutMs - (Date.now() - started));
          let hs: Handshake;
          try {
            hs = hooks.client(fd, address, scheme);
          } catch (err) {
            fd.destroy();
            throw err;
          }
          const what = `${name} handshake with ${address.host}:${address.port}`;
          await awaitReady(
            readyUnlessClosed(hs.ready, hs.stream, what),
            { timeoutMs: left, signal: opts.signal },
            what,
            () => {
              hs.stream.destroy();
              fd.destroy();
            },
          );
          return hs.stream;
        },
        async listen(address: Address, opts: ListenOptions = {}): Promise<ServerFD> {
          const wrapper = await hooks.server(address, scheme);
          const server = await inner.listen(address, opts);
          return new LayeredServerFD(
            scheme,
            server,
            wrapper,
            opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
          );
        },
      };
    },
  };
}

/** Accepts from the inner listener and emits only streams that finished the layer handshake. */
class LayeredServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind: string;
  readonly #inner: ServerFD;
  readonly #pending = new Set<StreamFD>();

  constructor(
    kind: string,
    inner: ServerFD,
    wrap: (inner: StreamFD) => Handshake,
    handshakeTimeoutMs: number,
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
      this.#pending.add(hs.stream);
      const what = `${kind} handshake`;
      const ready = readyUnlessClosed(hs.ready, hs.stream, what);
      awaitReady(ready, { timeoutMs: handshakeTimeoutMs }, what, () => {
        hs.stream.destroy();
        fd.destroy();
      }).then(
        () => {
          this.#pending.delete(hs.stream);
          if (hs.stream.destroyed) return;
          this.emit('connection', hs.stream);
        },
        (err: Error) => {
          this.#pending.delete(hs.stream);
          const reason =
            err instanceof VproxyError && err.code === 'ERR_CONNECT_TIMEOUT'
              ? new VproxyError('ERR_HANDSHAKE_TIMEOUT', err.message)
              : err;
          this.emit('handshakeError', reason);
        },
      );
    });
  }

  address(): BoundAddress {
    return this.#inner.address();
  }

  async close(): Promise<void> {
    // Half-handshaken clients belong to no one yet: the listener owns them.
    for (const s of this.#pending) s.destroy();
    this.#pending.clear();
    await this.#inner.close();
  }
}
