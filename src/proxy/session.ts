import { formatAddress, formatHostPort } from '../fd/address.js';
import { directReadable } from '../fd/direct-read.js';
import { VproxyError } from '../fd/errors.js';
import { abortStream, describePeer, type StreamFD } from '../fd/stream-fd.js';
import type { Admission } from './admission.js';
import type { BackendChoice } from './backend-picker.js';
import { ProxyError } from './errors.js';
import { closeAfterFlush, pump } from './pump.js';

/** Per-session settings, from the engine's options. */
export interface SessionLimits {
  readonly idleTimeoutMs: number;
  /**
   * Once one side has sent FIN (or closed), the session closes when nothing has
   * moved for this long (HAProxy's client-fin / server-fin); 0 = only the idle
   * timeout applies. Bytes on the direction still open keep it alive.
   */
  readonly finTimeoutMs: number;
  /** Bytes queued towards the backend before the client is paused. */
  readonly inBufferSize: number;
  /** Bytes queued towards the client before the backend is paused. */
  readonly outBufferSize: number;
}

export type SessionState = 'connecting' | 'established' | 'closing' | 'closed';

/** A plain snapshot of a session, for listing through the control plane. */
export interface SessionInfo {
  readonly id: number;
  /** The client's `ip:port`; `unknown` for a session first described after it closed. */
  readonly client: string;
  readonly target: string;
  /** Our end of the backend connection; null before it connects (or, as `client`, after it closed). */
  readonly backendLocal: string | null;
  readonly state: SessionState;
  readonly startedAt: number;
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  /** Bytes accepted from the client and not yet written to the backend (in-buffer). */
  readonly queuedToBackend: number;
  /** Bytes accepted from the backend and not yet written to the client (out-buffer). */
  readonly queuedToClient: number;
}

/** A client's bytes held while its backend connects, at most (one more read may pass it). */
const READ_AHEAD_BYTES = 16 * 1024;

/** 0, 1 or 2: the stream's FIN and close as events the idle sweep can see move. */
const ends = (fd: StreamFD): number => (fd.readableEnded ? 1 : 0) + (fd.closed ? 1 : 0);

/**
 * One client stream spliced to one backend stream. The session owns both: it
 * propagates half-close, and on error, idle or fin timeout, or kill it closes both.
 * An error (reset, broken pipe) is passed on as a reset where the transport can;
 * an idle timeout or a peer's clean close ends the other side after it flushes.
 */
export class Session {
  readonly id: number;
  readonly client: StreamFD;
  readonly admission: Admission;
  readonly startedAt = Date.now();
  /** Its index in the engine's SessionTable (-1: not in it); only the table writes it. */
  tableSlot = -1;

  #choice: BackendChoice;
  #redispatches = 0;
  #backend: StreamFD | null = null;
  /** A backend stream still connecting (a synchronous dial): destroying it is the abort. */
  #dialing: StreamFD | null = null;
  #dialStartedAt = 0;
  // Made when a connect asks for it (an AbortController costs microseconds; a dial needs none).
  #connectAbort: AbortController | undefined;
  /** readAhead() ran: the client's reads go to #early until attach(). */
  #readingAhead = false;
  /** The client's first bytes, read while the backend connects. */
  #early: Buffer[] | null = null;
  #earlyBytes = 0;
  #state: SessionState = 'connecting';
  #error: Error | undefined;
  #connectError: Error | undefined;
  readonly #onClosed: (err: Error | undefined) => void;
  #closed: Promise<Error | undefined> | undefined;
  #resolveClosed: ((err: Error | undefined) => void) | undefined;
  readonly #limits: SessionLimits;
  // A closed socket no longer knows its addresses, so they are read while it is
  // open: at the first info(), or at once when `eagerAddresses` says a closed
  // session will be described (each read is a getpeername/getsockname syscall,
  // a few per cent of the cost of a short connection).
  #clientText: string | null = null;
  #backendLocalText: string | null = null;
  readonly #eagerAddresses: boolean;
  #lastTraffic = 0;
  #lastActive = performance.now();

  constructor(
    id: number,
    client: StreamFD,
    choice: BackendChoice,
    admission: Admission,
    limits: SessionLimits,
    eagerAddresses = false,
    onClosed: (err: Error | undefined) => void = () => {},
  ) {
    this.id = id;
    this.client = client;
    this.#choice = choice;
    this.admission = admission;
    this.#limits = limits;
    this.#eagerAddresses = eagerAddresses;
    this.#onClosed = onClosed;
    if (eagerAddresses) this.#readAddresses();
    this.#watch(client);
  }

  /** Aborts the backend connect if the client goes away first. */
  get connectAbort(): AbortController {
    if (this.#connectAbort === undefined) {
      this.#connectAbort = new AbortController();
      if (this.#state !== 'connecting') this.#connectAbort.abort(this.#error);
    }
    return this.#connectAbort;
  }

  /** Resolves once both streams are closed; `error` is what ended the session, if anything. */
  get closed(): Promise<Error | undefined> {
    if (this.#closed === undefined) {
      this.#closed =
        this.#state === 'closed'
          ? Promise.resolve(this.#error)
          : new Promise((resolve) => {
              this.#resolveClosed = resolve;
            });
    }
    return this.#closed;
  }

  /**
   * The backend stream being dialled (it emits 'connect' or 'error'); the
   * session destroys it if the client goes away first. `attach()` takes it over.
   */
  dialing(fd: StreamFD | null): void {
    this.#dialing = fd;
    if (fd !== null) this.#dialStartedAt = performance.now();
  }

  /** When the dial in progress started (performance.now()); null when none is. */
  get dialStartedAt(): number | null {
    return this.#dialing === null ? null : this.#dialStartedAt;
  }

  /** The backend stream being dialled, if any. */
  get dialingStream(): StreamFD | null {
    return this.#dialing;
  }

  /**
   * Read the client's first bytes while the backend connects, as a pipe()
   * proxy does: the first flight (a TLS hello, an HTTP request) is then
   * written in the callback that sees the connect, not one event-loop turn
   * later once reading starts. Reads are copied and held; past READ_AHEAD_BYTES
   * reading stops until attach() and the kernel holds the rest. Reading is not
   * stopped before that: a stop and restart around the connect would cost
   * two epoll_ctl calls per connection. Only for a client read directly (TCP)
   * with nothing left in its Readable side.
   */
  readAhead(): void {
    const client = this.client;
    if (this.#readingAhead || this.#state !== 'connecting' || client.readableLength !== 0) return;
    const reader = directReadable(client);
    if (reader === null) return;
    this.#readingAhead = true;
    reader.setDirectSink((chunk) => {
      const copy = Buffer.from(chunk);
      if (this.#early === null) this.#early = [copy];
      else this.#early.push(copy);
      this.#earlyBytes += chunk.length;
      return this.#earlyBytes < READ_AHEAD_BYTES;
    });
    client.resume();
  }

  get state(): SessionState {
    return this.#state;
  }

  /** The backend being connected or used: the last one picked. */
  get choice(): BackendChoice {
    return this.#choice;
  }

  /** Backends given up on (connect failed) before the current choice. */
  get redispatches(): number {
    return this.#redispatches;
  }

  /**
   * The connect to the current choice failed with `err`; go to `next` instead.
   * The failed choice is released at once (its server's passive health check
   * hears of the failure). Nothing has reached the client yet: no admission
   * callback ran. False when the session is no longer connecting (the client
   * left): `next` is released unused.
   */
  redispatch(next: BackendChoice, err: Error): boolean {
    if (this.#state !== 'connecting') {
      next.release?.({ connected: false, bytesToBackend: 0, bytesFromBackend: 0 });
      return false;
    }
    const failed = this.#choice;
    this.#choice = next;
    this.#redispatches++;
    failed.release?.({
      connected: false,
      connectError: err,
      redispatched: true,
      bytesToBackend: 0,
      bytesFromBackend: 0,
    });
    return true;
  }

  get backend(): StreamFD | null {
    return this.#backend;
  }

  /** Set when the backend could not be reached (not when the client left first). */
  get connectError(): Error | undefined {
    return this.#connectError;
  }

  /**
   * Wire up the connected backend: write `preamble` (a PROXY protocol header)
   * first, tell the admission (a socks5 success reply), then both directions flow.
   */
  attach(backend: StreamFD, preamble: Uint8Array | null): void {
    if (this.#state !== 'connecting') {
      backend.destroy();
      return;
    }
    this.#backend = backend;
    this.#dialing = null;
    this.#state = 'established';
    if (this.#eagerAddresses) this.#readAddresses();
    this.#watch(backend);
    this.#choice.connected?.(backend);
    if (preamble !== null) backend.write(preamble);
    if (this.#readingAhead) {
      // The pump installs its own sink (or none, for a backend it cannot write directly).
      directReadable(this.client)?.setDirectSink(null);
      for (const chunk of this.#early ?? []) backend.write(chunk);
      this.#early = null;
    }
    this.admission.connected?.(backend);
    pump(this.client, backend, this.#limits.inBufferSize);
    pump(backend, this.client, this.#limits.outBufferSize);
  }

  /**
   * The backend could not be reached: let the admission answer (a socks5
   * failure reply), then close the client once that answer is flushed.
   */
  connectFailed(err: Error): void {
    if (this.#state !== 'connecting') return;
    this.#error = err;
    this.#connectError = err;
    this.#state = 'closing';
    this.admission.failed?.('connect-failed', err);
    closeAfterFlush(this.client);
    this.#maybeFinish();
  }

  /** Close both streams at once with a reset (control-plane kill). */
  kill(): void {
    this.#fail(new ProxyError('ERR_SESSION_KILLED', `session ${this.id} killed`), true);
  }

  info(): SessionInfo {
    this.#readAddresses();
    const backend = this.#backend;
    return {
      id: this.id,
      client: this.#clientText ?? 'unknown',
      target: formatAddress(this.#choice.address),
      backendLocal: this.#backendLocalText,
      state: this.#state,
      startedAt: this.startedAt,
      bytesFromClient: this.client.bytesRead,
      bytesToClient: this.client.bytesWritten,
      queuedToBackend: backend?.writableLength ?? 0,
      queuedToClient: this.client.writableLength,
    };
  }

  #readAddresses(): void {
    if (this.#clientText === null && !this.client.destroyed) {
      this.#clientText = describePeer(this.client);
    }
    const backend = this.#backend;
    if (this.#backendLocalText === null && backend !== null && !backend.destroyed) {
      if (backend.localAddress !== undefined) {
        this.#backendLocalText = formatHostPort(backend.localAddress, backend.localPort ?? 0);
      }
    }
  }

  #watch(fd: StreamFD): void {
    fd.on('error', (err) => this.#fail(err, true));
    fd.on('close', () => this.#sideClosed(fd));
  }

  /**
   * Close both streams of the session when no byte has moved on either stream
   * for its idle timeout — or for its fin timeout once a side has sent FIN or
   * closed. The engine calls this from one periodic sweep instead of arming a
   * timer per stream: a per-stream timer is re-armed on every read and write,
   * which is a cost per chunk. A FIN or a close counts as traffic (it moves
   * the counter once), so the fin timeout runs from the FIN or the last byte
   * after it, never from silence before it.
   */
  checkIdle(now: number): void {
    const { idleTimeoutMs, finTimeoutMs } = this.#limits;
    // Also while closing: a flush to a peer that never reads must not hold the session forever.
    if (this.#state === 'closed' || (idleTimeoutMs <= 0 && finTimeoutMs <= 0)) return;
    const backend = this.#backend;
    const client = this.client;
    const traffic =
      client.bytesRead +
      client.bytesWritten +
      ends(client) +
      (backend === null ? 0 : backend.bytesRead + backend.bytesWritten + ends(backend));
    if (traffic !== this.#lastTraffic) {
      this.#lastTraffic = traffic;
      this.#lastActive = now;
      return;
    }
    const silent = now - this.#lastActive;
    // Half-closed: connected, and one side has sent FIN or gone (the other is flushing).
    const finSide = finTimeoutMs > 0 && backend !== null ? this.#finSide(backend) : null;
    if (
      finSide !== null &&
      silent >= finTimeoutMs &&
      (idleTimeoutMs <= 0 || finTimeoutMs < idleTimeoutMs)
    ) {
      this.#fail(
        new ProxyError(
          'ERR_FIN_TIMEOUT',
          `session ${this.id}: ${finSide} closed its side and nothing moved for ${finTimeoutMs} ms`,
        ),
        false,
      );
    } else if (idleTimeoutMs > 0 && silent >= idleTimeoutMs) {
      this.#fail(
        new VproxyError('ERR_IDLE_TIMEOUT', `session ${this.id} idle for ${idleTimeoutMs} ms`),
        false,
      );
    }
  }

  /** Which side ended first, as far as can be told now; null while both directions are open. */
  #finSide(backend: StreamFD): 'client' | 'backend' | null {
    if (this.client.readableEnded || this.client.closed) return 'client';
    if (backend.readableEnded || backend.closed) return 'backend';
    return null;
  }

  #fail(err: Error, reset: boolean): void {
    if (this.#state === 'closed') return;
    this.#error ??= err;
    this.#state = 'closing';
    this.#stopConnecting(err);
    for (const fd of [this.client, this.#backend]) {
      if (fd === null) continue;
      if (reset) abortStream(fd);
      else fd.destroy();
    }
    this.#maybeFinish();
  }

  #sideClosed(fd: StreamFD): void {
    if (this.#state === 'connecting') {
      // The client left before the backend answered: stop connecting.
      this.#state = 'closing';
      this.#stopConnecting(new ProxyError('ERR_CLIENT_CLOSED', 'client closed while connecting'));
    } else if (this.#state === 'established') {
      this.#state = 'closing';
    }
    const other = fd === this.client ? this.#backend : this.client;
    if (other !== null) closeAfterFlush(other);
    this.#maybeFinish();
  }

  #stopConnecting(reason: Error): void {
    this.#connectAbort?.abort(reason);
    const dialing = this.#dialing;
    if (dialing !== null) {
      this.#dialing = null;
      dialing.destroy();
    }
  }

  #maybeFinish(): void {
    if (this.#state === 'closed') return;
    const backendDone = this.#backend === null || this.#backend.closed;
    if (!this.client.closed || !backendDone) return;
    this.#state = 'closed';
    this.#onClosed(this.#error);
    this.#resolveClosed?.(this.#error);
  }
}
