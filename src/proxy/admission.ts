import type { Address } from '../fd/address.js';
import type { BoundAddress } from '../fd/server-fd.js';
import type { StreamFD } from '../fd/stream-fd.js';

export type AdmissionFailure = 'no-backend' | 'connect-failed';

/**
 * What a client handshake (socks5, PROXY protocol, a security-group check…)
 * learnt before a backend is picked, and how it wants to hear the outcome.
 */
export interface Admission {
  /** A name the picker may route on: a socks5 domain, a Host or SNI name. */
  readonly hint?: string;
  /** A target the client asked for (socks5 CONNECT); the picker decides whether it may be used. */
  readonly requested?: Address;
  /** The real client address when a front proxy sent it (PROXY protocol). */
  readonly source?: BoundAddress;
  /** The backend is connected; called before any byte flows (socks5: the success reply). */
  connected?(backend: StreamFD): void;
  /** No backend could be had or reached; the client is closed after what was written is flushed. */
  failed?(reason: AdmissionFailure, err?: Error): void;
}

/** A handshake result saying: this client is mine now (a socks5 UDP ASSOCIATE control connection). */
export const TAKEN = 'taken';

/**
 * Runs on an accepted client before anything else. Resolves with an Admission;
 * or null to refuse the client (the handshake has answered it; the engine then
 * closes it); or TAKEN when the handshake keeps the client for itself (the
 * engine forgets it, the handshake's owner closes it). Must stop when `signal`
 * aborts (handshake timeout or shutdown).
 */
export type ClientHandshake = (
  client: StreamFD,
  signal: AbortSignal,
) => Promise<Admission | null | typeof TAKEN>;
