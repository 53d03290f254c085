import { EventEmitter } from 'node:events';
import { type Address, formatHostPort } from '../fd/address.js';
import { isVproxyError } from '../fd/errors.js';
import { errorFields, type Logger, quietLogger, rateLimited } from '../fd/logger.js';
import type { ServerFD } from '../fd/server-fd.js';
import { describePeer, type StreamFD } from '../fd/stream-fd.js';
import { type Admission, type ClientHandshake, TAKEN } from './admission.js';
import { admit } from './admit.js';
import { BackendConnector } from './backend-connect.js';
import type { BackendChoice, PickContext } from './backend-picker.js';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_FIN_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_RETRIES,
  type ProxyEvents,
  type ProxyOptions,
  type ProxyStats,
} from './engine-options.js';
import { closeAfterFlush } from './pump.js';
import { Session, type SessionInfo, type SessionLimits } from './session.js';
import { reportClosed, sessionCloseChannel, sessionOpenChannel } from './session-events.js';
import { SessionTable } from './session-table.js';
import { IdleSweep } from './sweep.js';

export {
  DEFAULT_FIN_TIMEOUT_MS,
  DEFAULT_RETRIES,
  MAX_RETRIES,
  type ProxyEvents,
  type ProxyOptions,
  type ProxyStats,
} from './engine-options.js';

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
  readonly #sessions = new SessionTable();
  readonly #sweep = new IdleSweep(this.#sessions);
  /** Connects sessions to their backends, with redispatch and one deadline queue. */
  readonly #connector: BackendConnector;
  /** For log lines and events: the listener, or the name the owner gave. */
  readonly name: string;
  readonly #log: Logger;
  #accessLog: Logger | undefined;
  #nextId = 1;
  #closing = false;
  #accepted = 0;
  #closedBytesIn = 0;
  #closedBytesOut = 0;
  #noBackend = 0;
  #refused = 0;
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
    const server = options.server;
    if (options.name === undefined) {
      const bound = server.address();
      this.name = `${server.kind}://${formatHostPort(bound.host, bound.port)}`;
    } else {
      this.name = options.name;
    }
    this.#log = rateLimited((options.logger ?? quietLogger).child({ listener: this.name }));
    this.#connector = new BackendConnector({
      registry: options.registry,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      retries: options.retries ?? DEFAULT_RETRIES,
      sessions: () => this.#sessions.all,
      repick:
        options.picker.repick === undefined
          ? undefined
          : (context, tried) => this.#pick(context, tried),
      ...(options.backendPreamble === undefined
        ? {}
        : { backendPreamble: options.backendPreamble }),
      log: this.#log,
    });
    this.#accessLog = options.accessLog?.child({ listener: this.name });
    server.on('connection', (fd) => this.#accept(fd));
    server.on('error', (err) => {
      this.#errors++;
      this.#log.error('listener-error', errorFields(err));
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    // A client that failed a layer handshake (TLS, WebSocket, a kcp key) is already
    // closed; without this line its user sees only an empty reply.
    server.on('handshakeError', (err) => {
      this.#errors++;
      if (this.#log.enabled('info')) {
        this.#log.info('client-handshake-failed', { layer: server.kind, ...errorFields(err) });
      }
    });
  }

  /** Change the idle / fin timeouts and buffer bounds; sessions opened from now on use them. */
  updateLimits(limits: Partial<SessionLimits>): void {
    this.#limits = { ...this.#limits, ...limits };
    if (this.#sweep.running) this.#sweep.ensure(this.#limits);
  }

  limits(): SessionLimits {
    return this.#limits;
  }

  /** Redispatches allowed per session (connects that start from now on). */
  get retries(): number {
    return this.#connector.retries;
  }

  set retries(retries: number) {
    this.#connector.retries = retries;
  }

  /** Turn the access log on or off; sessions that close from now on follow. */
  setAccessLog(accessLog: Logger | undefined): void {
    this.#accessLog = accessLog?.child({ listener: this.name });
  }

  /**
   * The engine's logger: bound to its name, rate-limited per event. Its owner
   * logs the listener's own decisions (a security group's refusal) through it.
   */
  get log(): Logger {
    return this.#log;
  }

  get server(): ServerFD {
    return this.#options.server;
  }

  stats(): ProxyStats {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const s of this.#sessions.all) {
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
      connectFailures: this.#connector.connectFailures,
      redispatches: this.#connector.redispatches,
      idleTimeouts: this.#idleTimeouts,
      finTimeouts: this.#finTimeouts,
      errors: this.#errors,
    };
  }

  sessions(): SessionInfo[] {
    return this.#sessions.all.map((s) => s.info());
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
    this.#sweep.stop();
    this.#connector.clear();
    await this.#options.server.close();
    const pending = [...this.#sessions.all].map((s) => {
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
      // The gate's owner (a security group) logs why: it knows the rule.
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
    // A closed socket forgets its peer: read it now if a failure may be logged.
    const who = this.#log.enabled('info') ? describePeer(client) : undefined;
    const admission = await admit(
      client,
      handshake,
      this.#options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      this.#log,
      who,
    );
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
      if (this.#log.enabled('warn')) {
        this.#log.warn('no-backend', {
          client: describePeer(client),
          hint: context.admission.hint,
        });
      }
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
      // A closed session is described: read its addresses while they exist.
      this.listenerCount('sessionClosed') > 0 ||
        this.#accessLog !== undefined ||
        sessionCloseChannel.hasSubscribers ||
        this.#log.enabled('debug'),
      (err) => this.#finish(session, err),
    );
    this.#sessions.add(session);
    this.#sweep.ensure(this.#limits);
    if (sessionOpenChannel.hasSubscribers) {
      const info = session.info();
      sessionOpenChannel.publish({
        listener: this.name,
        id: session.id,
        client: info.client,
        backend: info.target,
      });
    }
    this.#connector.connect(session, context, undefined);
  }

  /** The picker's answer; a throw or a rejection counts as an error and picks nothing. */
  #pick(
    context: PickContext,
    tried?: readonly Address[],
  ): BackendChoice | null | Promise<BackendChoice | null> {
    const picker = this.#options.picker;
    try {
      const picked =
        tried === undefined ? picker.pick(context) : (picker.repick?.(context, tried) ?? null);
      return isPromise(picked) ? picked.catch((err: unknown) => this.#pickFailed(err)) : picked;
    } catch (err) {
      return this.#pickFailed(err);
    }
  }

  #pickFailed(err: unknown): null {
    this.#errors++;
    // A picker that throws is a bug or a broken config, never the client's doing.
    this.#log.error('picker-failed', errorFields(err));
    if (this.listenerCount('error') > 0) this.emit('error', err as Error);
    return null;
  }

  #finish(session: Session, err: Error | undefined): void {
    this.#sessions.remove(session);
    if (this.#sessions.size === 0) this.#sweep.stop();
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
    if (
      this.#accessLog !== undefined ||
      sessionCloseChannel.hasSubscribers ||
      (err !== undefined && this.#log.enabled('debug'))
    ) {
      reportClosed(this.name, session, err, this.#accessLog, this.#log);
    }
  }
}
