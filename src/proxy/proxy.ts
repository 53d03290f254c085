import { EventEmitter } from 'node:events';
import { type Address, formatAddress } from '../fd/address.js';
import { isVproxyError, VproxyError } from '../fd/errors.js';
import type { Registry } from '../fd/registry.js';
import type { ServerFD } from '../fd/server-fd.js';
import type { StreamFD } from '../fd/stream-fd.js';
import type { BackendPicker } from './backend-picker.js';
import { Session, type SessionInfo } from './session.js';

export interface ProxyOptions {
  /** Where clients come from: any transport's listener. */
  readonly server: ServerFD;
  readonly picker: BackendPicker;
  /** Used to connect to the picked backend, whatever its scheme. */
  readonly registry: Registry;
  /** Both streams of a session close after this long without traffic (default 15 min, 0 = never). */
  readonly idleTimeoutMs?: number;
  /** A backend that is not connected after this long counts as failed (default 10 s). */
  readonly connectTimeoutMs?: number;
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
  readonly connectFailures: number;
  readonly idleTimeouts: number;
  readonly errors: number;
}

export interface ProxyEvents {
  /** A session ended; `err` says why when it did not end cleanly. */
  sessionClosed: [info: SessionInfo, err: Error | undefined];
  /** The listener reported an error (it keeps running). */
  error: [err: Error];
}

const DEFAULT_IDLE_TIMEOUT_MS = 900_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The proxy engine: accept from any ServerFD, pick a backend, connect through the
 * registry, then splice the two streams (see Session). Owns every session it
 * creates; `close()` stops the listener and closes them all.
 */
export class ProxyEngine extends EventEmitter<ProxyEvents> {
  readonly #options: ProxyOptions;
  readonly #idleTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #sessions = new Map<number, Session>();
  #nextId = 1;
  #closing = false;
  #accepted = 0;
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  #noBackend = 0;
  #connectFailures = 0;
  #idleTimeouts = 0;
  #errors = 0;

  constructor(options: ProxyOptions) {
    super();
    this.#options = options;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
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
      connectFailures: this.#connectFailures,
      idleTimeouts: this.#idleTimeouts,
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
    await this.#options.server.close();
    const pending = [...this.#sessions.values()].map((s) => {
      s.kill();
      return s.closed;
    });
    await Promise.all(pending);
  }

  async #accept(client: StreamFD): Promise<void> {
    if (this.#closing) {
      client.destroy();
      return;
    }
    this.#accepted++;
    // Until the session owns the client, an error (a reset during an async pick)
    // must not go unhandled; the destroyed check below then drops the client.
    const early = () => {};
    client.on('error', early);
    let target: Address | null;
    try {
      target = await this.#options.picker.pick({ client });
    } catch (err) {
      this.#errors++;
      target = null;
      if (this.listenerCount('error') > 0) this.emit('error', err as Error);
    }
    client.off('error', early);
    if (target === null || this.#closing || client.destroyed) {
      this.#noBackend++;
      client.destroy();
      return;
    }
    const session = new Session(this.#nextId++, client, target, this.#idleTimeoutMs);
    this.#sessions.set(session.id, session);
    session.closed.then((err) => this.#finish(session, err));
    try {
      const backend = await this.#options.registry.connect(target, {
        timeoutMs: this.#connectTimeoutMs,
        signal: session.connectAbort.signal,
      });
      session.attach(backend, this.#idleTimeoutMs);
    } catch (err) {
      if (session.connectAbort.signal.aborted) return; // the client left first; nothing failed
      const error =
        err instanceof Error
          ? err
          : new VproxyError('ERR_CLOSED', `connect failed: ${String(err)}`);
      this.#connectFailures++;
      this.#options.picker.connectFailed?.(target, error);
      session.connectFailed(
        new VproxyError('ERR_CLOSED', `backend ${formatAddress(target)}: ${error.message}`, {
          cause: error,
        }),
      );
    }
  }

  #finish(session: Session, err: Error | undefined): void {
    this.#sessions.delete(session.id);
    this.#closedBytesIn += session.client.bytesRead;
    this.#closedBytesOut += session.client.bytesWritten;
    if (isVproxyError(err, 'ERR_IDLE_TIMEOUT')) this.#idleTimeouts++;
    else if (err !== undefined && !isVproxyError(err)) this.#errors++;
    this.emit('sessionClosed', session.info(), err);
  }
}
