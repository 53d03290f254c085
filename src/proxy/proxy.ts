import { EventEmitter } from 'node:events';
import { formatAddress } from '../fd/address.js';
import { deadline } from '../fd/deadline.js';
import { isVproxyError, VproxyError } from '../fd/errors.js';
import type { Registry } from '../fd/registry.js';
import type { ServerFD } from '../fd/server-fd.js';
import type { StreamFD } from '../fd/stream-fd.js';
import { type Admission, type ClientHandshake, TAKEN } from './admission.js';
import type { BackendChoice, BackendPicker, PickContext } from './backend-picker.js';
import { closeAfterFlush } from './pump.js';
import { Session, type SessionInfo, type SessionLimits } from './session.js';

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

const DEFAULT_IDLE_TIMEOUT_MS = 900_000;
/**
 * Like HAProxy's client-fin / server-fin, which operators set to 1-30 s: the top
 * of that range, so a client that sends a request and shuts down its write side
 * still gives a backend 30 s of silence to think (bytes flowing reset it), while
 * a backend that never closes holds a session's fds for 30 s, not the 15 min of
 * the idle timeout (Linux gives an orphaned FIN_WAIT2 socket 60 s).
 */
export const DEFAULT_FIN_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** What a client without a handshake is admitted with. */
const NO_ADMISSION: Admission = Object.freeze({});

const isPromise = <T>(x: T | Promise<T>): x is Promise<T> => x instanceof Promise;

/**
 * Until a session owns the client, an error (a reset during the handshake or an
 * async pick) must not go unhandled; the destroyed checks then drop the client.
 * Returns the listener, to remove once the session has its own.
 */
function quietUntilOwned(client: StreamFD): () => void {
  const early = () => {};
  client.on('error', early);
  return early;
}

/**
 * The proxy engine: accept from any ServerFD, pick a backend, connect through the
 * registry, then splice the two streams (see Session). Owns every session it
 * creates; `close()` stops the listener and closes them all.
 */
export class ProxyEngine extends EventEmitter<ProxyEvents> {
  readonly #options: ProxyOptions;
  #limits: SessionLimits;
  readonly #connectTimeoutMs: number;
  readonly #sessions = new Map<number, Session>();
  #nextId = 1;
  #closing = false;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweepPeriodMs = 0;
  #accepted = 0;
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  #noBackend = 0;
  #refused = 0;
  #connectFailures = 0;
  #idleTimeouts = 0;
  #finTimeouts = 0;
  #errors = 0;

  constructor(options: ProxyOptions) {
    super();
    this.#options = options;
    this.#limits = {
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      finTimeoutMs: options.finTimeoutMs ?? DEFAULT_FIN_TIMEOUT_MS,
      inBufferSize: options.inBufferSize ?? 0,
      outBufferSize: options.outBufferSize ?? 0,
    };
    this.#connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    options.server.on('connection', (fd) => this.#accept(fd));
    options.server.on('error', (err) => {
      this.#errors++;
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    // Failed layer handshakes are the client's problem; they are already closed.
    options.server.on('handshakeError', () => {
      this.#errors++;
    });
  }

  /** Change the idle / fin timeouts and buffer bounds; sessions opened from now on use them. */
  updateLimits(limits: Partial<SessionLimits>): void {
    this.#limits = { ...this.#limits, ...limits };
    if (this.#sweepTimer !== undefined) this.#sweepIdle();
  }

  limits(): SessionLimits {
    return this.#limits;
  }

  get server(): ServerFD {
    return this.#options.server;
  }

  stats(): ProxyStats {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const s of this.#sessions.values()) {
      bytesIn += s.client.bytesRead;
      bytesOut += s.client.bytesWritten;
    }
    return {
      accepted: this.#accepted,
      active: this.#sessions.size,
      bytesIn,
      bytesOut,
      noBackend: this.#noBackend,
      refused: this.#refused,
      connectFailures: this.#connectFailures,
      idleTimeouts: this.#idleTimeouts,
      finTimeouts: this.#finTimeouts,
      errors: this.#errors,
    };
  }

  sessions(): SessionInfo[] {
    return [...this.#sessions.values()].map((s) => s.info());
  }

  /** Reset both streams of a session. Returns false when there is no such session. */
  kill(id: number): boolean {
    const session = this.#sessions.get(id);
    if (!session) return false;
    session.kill();
    return true;
  }

  /** Stop accepting, close every session, and resolve once all their streams are closed. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#stopSweep();
    await this.#options.server.close();
    const pending = [...this.#sessions.values()].map((s) => {
      s.kill();
      return s.closed;
    });
    await Promise.all(pending);
  }

  #accept(client: StreamFD): void {
    if (this.#closing) {
      client.destroy();
      return;
    }
    this.#accepted++;
    if (this.#options.gate && !this.#options.gate(client)) {
      this.#refused++;
      client.destroy();
      return;
    }
    const handshake = this.#options.handshake;
    if (handshake) {
      void this.#acceptAfterHandshake(client, handshake);
      return;
    }
    // No handshake and (usually) a synchronous pick: the session is built in this
    // same callback, with no promise or microtask per connection on the way.
    const context: PickContext = { client, admission: NO_ADMISSION };
    const picked = this.#pick(context);
    if (isPromise(picked)) {
      const early = quietUntilOwned(client);
      void picked.then((choice) => {
        client.off('error', early);
        this.#start(context, choice);
      });
      return;
    }
    this.#start(context, picked);
  }

  async #acceptAfterHandshake(client: StreamFD, handshake: ClientHandshake): Promise<void> {
    const early = quietUntilOwned(client);
    const admission = await this.#admit(client, handshake);
    if (admission === TAKEN) {
      client.off('error', early);
      return;
    }
    if (admission === null) {
      client.off('error', early);
      this.#refused++;
      closeAfterFlush(client);
      return;
    }
    const context: PickContext = { client, admission };
    const choice = await this.#pick(context);
    client.off('error', early);
    this.#start(context, choice);
  }

  /** A backend was picked (or not): start the session and connect. */
  #start(context: PickContext, choice: BackendChoice | null): void {
    const client = context.client;
    if (choice !== null && (this.#closing || client.destroyed)) {
      // Picked, but the client left (or we are shutting down) meanwhile: hand the lease back.
      choice.release?.({ connected: false, bytesToBackend: 0, bytesFromBackend: 0 });
      client.destroy();
      return;
    }
    if (choice === null) {
      this.#noBackend++;
      context.admission.failed?.('no-backend');
      closeAfterFlush(client);
      return;
    }
    const session = new Session(
      this.#nextId++,
      client,
      choice,
      context.admission,
      this.#limits,
      this.listenerCount('sessionClosed') > 0,
    );
    this.#sessions.set(session.id, session);
    this.#sweepIdle();
    session.closed.then((err) => this.#finish(session, err));
    void this.#connect(session, context, choice);
  }

  async #connect(session: Session, context: PickContext, choice: BackendChoice): Promise<void> {
    try {
      const backend = await this.#options.registry.connect(choice.address, {
        timeoutMs: this.#connectTimeoutMs,
        signal: session.connectAbort.signal,
      });
      session.attach(backend, this.#options.backendPreamble?.(context, backend) ?? null);
    } catch (err) {
      if (session.connectAbort.signal.aborted) return; // the client left first; nothing failed
      this.#connectFailures++;
      const reason = err instanceof Error ? err.message : String(err);
      session.connectFailed(
        new VproxyError('ERR_CLOSED', `backend ${formatAddress(choice.address)}: ${reason}`, {
          cause: err,
        }),
      );
    }
  }

  /** Run the handshake under a hard deadline (a client trickling bytes cannot hold it open). */
  async #admit(
    client: StreamFD,
    handshake: ClientHandshake,
  ): Promise<Admission | null | typeof TAKEN> {
    const ms = this.#options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const limit = deadline(
      ms,
      () => new VproxyError('ERR_HANDSHAKE_TIMEOUT', `client handshake took over ${ms} ms`),
      () => client.destroy(),
    );
    try {
      return await handshake(client, limit.signal);
    } catch {
      return null;
    } finally {
      limit.cancel();
    }
  }

  /** The picker's answer; a throw or a rejection counts as an error and picks nothing. */
  #pick(context: PickContext): BackendChoice | null | Promise<BackendChoice | null> {
    try {
      const picked = this.#options.picker.pick(context);
      return isPromise(picked) ? picked.catch((err: unknown) => this.#pickFailed(err)) : picked;
    } catch (err) {
      return this.#pickFailed(err);
    }
  }

  #pickFailed(err: unknown): null {
    this.#errors++;
    if (this.listenerCount('error') > 0) this.emit('error', err as Error);
    return null;
  }

  /**
   * Keep the idle sweep running while there are sessions: every quarter of the
   * shorter of the idle and fin timeouts (at most each second), so a session is
   * closed between 1 and 1.25 timeouts after its last byte (or within a second
   * for long ones), plus one period when the FIN itself is the last event. A
   * session keeps the limits it started with, so the period only shrinks until
   * the sweep stops.
   */
  #sweepIdle(): void {
    const { idleTimeoutMs, finTimeoutMs } = this.#limits;
    const shortest = Math.min(
      idleTimeoutMs > 0 ? idleTimeoutMs : Number.POSITIVE_INFINITY,
      finTimeoutMs > 0 ? finTimeoutMs : Number.POSITIVE_INFINITY,
    );
    if (shortest === Number.POSITIVE_INFINITY) return;
    const period = Math.min(1000, Math.max(10, Math.floor(shortest / 4)));
    if (this.#sweepTimer !== undefined && period >= this.#sweepPeriodMs) return;
    this.#stopSweep();
    this.#sweepPeriodMs = period;
    this.#sweepTimer = setInterval(() => {
      const now = performance.now();
      for (const s of this.#sessions.values()) s.checkIdle(now);
    }, period);
    this.#sweepTimer.unref();
  }

  #stopSweep(): void {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  #finish(session: Session, err: Error | undefined): void {
    this.#sessions.delete(session.id);
    if (this.#sessions.size === 0) this.#stopSweep();
    this.#closedBytesIn += session.client.bytesRead;
    this.#closedBytesOut += session.client.bytesWritten;
    const backend = session.backend;
    session.choice.release?.({
      connected: backend !== null,
      ...(session.connectError === undefined ? {} : { connectError: session.connectError }),
      ...(err === undefined ? {} : { error: err }),
      bytesToBackend: backend?.bytesWritten ?? 0,
      bytesFromBackend: backend?.bytesRead ?? 0,
    });
    if (isVproxyError(err, 'ERR_IDLE_TIMEOUT')) this.#idleTimeouts++;
    else if (isVproxyError(err, 'ERR_FIN_TIMEOUT')) this.#finTimeouts++;
    else if (err !== undefined && !isVproxyError(err)) this.#errors++;
    if (this.listenerCount('sessionClosed') > 0) this.emit('sessionClosed', session.info(), err);
  }
}
