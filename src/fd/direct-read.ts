import type { Duplex } from 'node:stream';

/**
 * Takes one chunk read from a stream. The chunk is a view of the stream's read
 * buffer and is only valid during the call: a sink that keeps a reference to it
 * (a write that did not finish at once) must call `retainReadBuffer()` before
 * returning. Returning false pauses reading until the stream's `resume()`.
 */
export type DirectSink = (chunk: Buffer) => boolean;

/**
 * A stream that can hand what it reads straight to a sink, bypassing its
 * Readable side: no buffer allocated per read, no push / 'data' machinery.
 * This is the proxy's hot path for TCP (see transports/tcp/direct-reader.ts);
 * streams without it are pumped through their Readable side as usual.
 */
export interface DirectReadable {
  /**
   * Route every read to `sink` (null: back to the Readable side). End of
   * stream and errors still arrive as the stream's 'end' and 'error' events.
   */
  setDirectSink(sink: DirectSink | null): void;
  /** The chunk last given to the sink is still referenced: read into new memory next. */
  retainReadBuffer(): void;
}

const DIRECT = Symbol('vproxy.directReadable');

/**
 * Marks `stream` as directly readable through `reader`. A plain store, not
 * Object.defineProperty: it runs for every TCP socket, and the store (a cached
 * transition) costs ~30 ns where defineProperty costs ~180 ns.
 */
export function attachDirectReadable(stream: Duplex, reader: DirectReadable): void {
  (stream as Duplex & { [DIRECT]?: DirectReadable })[DIRECT] = reader;
}

/** The stream's direct reader, or null when it only has its Readable side. */
export function directReadable(stream: Duplex): DirectReadable | null {
  return (stream as Duplex & { [DIRECT]?: DirectReadable })[DIRECT] ?? null;
}
