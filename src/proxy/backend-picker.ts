import type { Address } from '../fd/address.js';
import type { StreamFD } from '../fd/stream-fd.js';
import type { Admission } from './admission.js';

export interface PickContext {
  /** The accepted client stream (its address drives source hashing). */
  readonly client: StreamFD;
  /** What the client handshake learnt (socks5 target, hint, real source); `{}` without one. */
  readonly admission: Admission;
}

/** How a session to a picked backend went; reported exactly once, when it is over. */
export interface SessionOutcome {
  /** False when the backend was never connected (refused, timed out, client left first). */
  readonly connected: boolean;
  /** Why the backend could not be reached; absent when the client simply left first. */
  readonly connectError?: Error;
  /** What ended the session, when it did not end cleanly. */
  readonly error?: Error;
  /** The connect failed and the session went on to another backend. */
  readonly redispatched?: boolean;
  readonly bytesToBackend: number;
  readonly bytesFromBackend: number;
}

export interface BackendChoice {
  readonly address: Address;
  /** The backend is connected: counters may read its byte totals live until `release`. */
  connected?(backend: StreamFD): void;
  /**
   * The session this choice was made for is over. Least-connection counting,
   * passive health checks (connected=false) and per-server byte counters hook in here.
   */
  release?(outcome: SessionOutcome): void;
}

/** Chooses where a client connection goes: a ServerGroup, an Upstream, a socks5 request… */
export interface BackendPicker {
  /** `null` means no backend is available: the client is closed. */
  pick(context: PickContext): BackendChoice | null | Promise<BackendChoice | null>;
  /**
   * Redispatch: connecting to each of `tried` (the very Address objects of the
   * earlier choices, oldest first) failed for this client; pick another backend,
   * never one of those (null when there is none). Pickers without it (a socks5
   * target, a fixed backend) are never asked twice.
   */
  repick?(
    context: PickContext,
    tried: readonly Address[],
  ): BackendChoice | null | Promise<BackendChoice | null>;
}
