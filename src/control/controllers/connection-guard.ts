import type { StreamFD } from '../../fd/stream-fd.js';

// What a controller port does to defend itself (DESIGN.md, "Every listener
// defends itself"): each client has one deadline at a time — the phase it is
// in says how long it may take — and every client closed or refused for a
// reason is counted under that reason.

/** Why a controller closed or refused a client. */
export type RefusalReason =
  /** did not authenticate (RESP) or send complete headers (HTTP) in time */
  | 'handshakeTimeout'
  /** an HTTP request (headers to response) took too long */
  | 'requestTimeout'
  /** silent past the idle / keep-alive timeout */
  | 'idleTimeout'
  /** did not read its replies for the stall timeout */
  | 'writeStall'
  /** unparsable request */
  | 'protocolError'
  /** HTTP write without a JSON body, a bearer token or from another origin */
  | 'crossOrigin'
  /** malformed percent-encoding, URL or cookie */
  | 'badRequest'
  /** an authentication attempt refused unchecked while its address is throttled */
  | 'authThrottled'
  /** accepted while the controller already had `maxClients` clients, and closed at once */
  | 'tooManyClients';

export type RefusalCounts = Record<RefusalReason, number>;

/**
 * Clients a controller serves at once by default. Each costs an fd, and the
 * process's fds are shared with the data plane: without a cap, clients of a
 * controller (even ones closed at a 10 s deadline) could starve every
 * listener of the process. An operator needs a handful.
 */
export const DEFAULT_MAX_CLIENTS = 256;

export function zeroRefusals(): RefusalCounts {
  return {
    handshakeTimeout: 0,
    requestTimeout: 0,
    idleTimeout: 0,
    writeStall: 0,
    protocolError: 0,
    crossOrigin: 0,
    badRequest: 0,
    authThrottled: 0,
    tooManyClients: 0,
  };
}

/**
 * One timer per client that destroys it when the current phase runs out.
 * `set` replaces the phase; `clear` (also on close) removes the timer, so a
 * closed client leaves nothing scheduled.
 */
export class ClientDeadline {
  readonly #fd: StreamFD;
  readonly #onExpire: (reason: RefusalReason) => boolean | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reason: RefusalReason | undefined;

  /** `onExpire` may return false to keep the client (having set a new deadline). */
  constructor(fd: StreamFD, onExpire: (reason: RefusalReason) => boolean | undefined) {
    this.#fd = fd;
    this.#onExpire = onExpire;
    fd.once('close', () => this.clear());
  }

  /** The phase the client is in now, if any deadline runs. */
  get phase(): RefusalReason | undefined {
    return this.#reason;
  }

  /** Destroy the client in `ms` (0 or less: no deadline) unless set again first. */
  set(ms: number, reason: RefusalReason): void {
    this.clear();
    if (ms <= 0 || this.#fd.destroyed) return;
    this.#reason = reason;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#reason = undefined;
      if (this.#fd.destroyed || this.#onExpire(reason) === false) return;
      this.#fd.destroy();
    }, ms);
  }

  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#reason = undefined;
  }
}
