import type { Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { ServerFD } from '../fd/server-fd.js';
import type { StreamFD } from '../fd/stream-fd.js';
import type { ClientHandshake } from './admission.js';
import type { BackendPicker, PickContext } from './backend-picker.js';
import type { SessionInfo } from './session.js';

// The proxy engine's options, statistics and events (the engine is in proxy.ts).

export interface ProxyOptions {
  /** Where clients come from: any transport's listener. */
  readonly server: ServerFD;
  readonly picker: BackendPicker;
  /** Used to connect to the picked backend, whatever its scheme. */
  readonly registry: Registry;
  /** Both streams of a session close after this long without traffic (default 15 min, 0 = never). */
  readonly idleTimeoutMs?: number;
  /**
   * A session one side of which has sent FIN (or closed) closes after this long
   * without traffic (default 30 s, 0 = only the idle timeout applies).
   */
  readonly finTimeoutMs?: number;
  /** A backend that is not connected after this long counts as failed (default 10 s). */
  readonly connectTimeoutMs?: number;
  /**
   * A synchronous check of every new client (a security group): false closes it.
   * Cheaper than a handshake on the accept path: no promise, no timer.
   */
  readonly gate?: (client: StreamFD) => boolean;
  /** Runs on every admitted client before a backend is picked (socks5, PROXY protocol). */
  readonly handshake?: ClientHandshake;
  /** A client that has not finished the handshake after this long is dropped (default 10 s). */
  readonly handshakeTimeoutMs?: number;
  /** Bytes written to a backend before any client byte (a PROXY protocol header). */
  readonly backendPreamble?: (context: PickContext, backend: StreamFD) => Uint8Array | null;
  /** Bytes queued towards a backend before the client is paused (default: the stream's own bound). */
  readonly inBufferSize?: number;
  /** Bytes queued towards a client before the backend is paused (default: the stream's own bound). */
  readonly outBufferSize?: number;
  /**
   * A failed backend connect is retried on another backend this many times
   * before the client hears of it (default 2, 0 = never). Only connects are
   * retried: nothing has reached the backend or the client yet.
   */
  readonly retries?: number;
  /** Names the engine in its log lines and events (default: its listener's address). */
  readonly name?: string;
  /** Failures with their causes (default: quiet). Identical events are rate-limited per engine. */
  readonly logger?: Logger;
  /** One `session` line at info per closed session (client, backend, bytes, duration, reason). */
  readonly accessLog?: Logger;
}

export interface ProxyStats {
  /** Client streams accepted since start. */
  readonly accepted: number;
  /** Sessions open now. */
  readonly active: number;
  /** Bytes received from clients (closed + open sessions). */
  readonly bytesIn: number;
  /** Bytes sent to clients (closed + open sessions). */
  readonly bytesOut: number;
  readonly noBackend: number;
  /** Clients the handshake refused, failed or timed out. */
  readonly refused: number;
  readonly connectFailures: number;
  /** Failed connects retried on another backend (each counts in connectFailures too). */
  readonly redispatches: number;
  readonly idleTimeouts: number;
  /** Half-closed sessions closed by the fin timeout. */
  readonly finTimeouts: number;
  readonly errors: number;
}

export interface ProxyEvents {
  /** A session ended; `err` says why when it did not end cleanly. */
  sessionClosed: [info: SessionInfo, err: Error | undefined];
  /** The listener reported an error (it keeps running). */
  error: [err: Error];
}

export const DEFAULT_IDLE_TIMEOUT_MS = 900_000;
/**
 * Like HAProxy's client-fin / server-fin, which operators set to 1-30 s: the top
 * of that range, so a client that sends a request and shuts down its write side
 * still gives a backend 30 s of silence to think (bytes flowing reset it), while
 * a backend that never closes holds a session's fds for 30 s, not the 15 min of
 * the idle timeout (Linux gives an orphaned FIN_WAIT2 socket 60 s).
 */
export const DEFAULT_FIN_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_RETRIES = 2;
/** Each retry may wait a whole connect timeout: more than a few only makes the client wait. */
export const MAX_RETRIES = 10;
