import type { EventEmitter } from 'node:events';
import type { StreamFD } from './stream-fd.js';

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
}

export interface ServerFDEvents {
  /** A new stream, fully handshaken through every layer of the scheme. */
  connection: [fd: StreamFD];
  /** A client failed a layer handshake (TLS, WebSocket…); it was already closed. */
  handshakeError: [err: Error];
  /** The listener itself failed (e.g. accept error); it keeps running where it can. */
  error: [err: Error];
}

/** A listener that accepts StreamFDs. */
export interface ServerFD extends EventEmitter<ServerFDEvents> {
  readonly kind: string;
  address(): BoundAddress;
  /** Stop accepting. Streams already accepted are not touched (their owners close them). */
  close(): Promise<void>;
}
