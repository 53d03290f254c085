import { type Address, formatAddress } from '../fd/address.js';
import { connectTimeoutError } from '../fd/deadline.js';
import type { Logger } from '../fd/logger.js';
import type { Registry } from '../fd/registry.js';
import type { StreamFD } from '../fd/stream-fd.js';
import type { BackendChoice, PickContext } from './backend-picker.js';
import { ConnectDeadlines } from './connect-deadlines.js';
import { BackendConnectError } from './errors.js';
import { checkRetries, connectFailureFields, notTried } from './redispatch.js';
import type { Session } from './session.js';

/** What a BackendConnector needs of its engine. */
export interface BackendConnectorOptions {
  readonly registry: Registry;
  readonly connectTimeoutMs: number;
  readonly retries: number;
  /** The engine's sessions, where dials may be pending (read when a deadline fires). */
  readonly sessions: () => readonly Session[];
  /** The engine's pick (`tried`: a repick avoiding those); undefined when its picker cannot repick. */
  readonly repick: ((context: PickContext, tried: readonly Address[]) => PickResult) | undefined;
  readonly backendPreamble?: (context: PickContext, backend: StreamFD) => Uint8Array | null;
  /** The engine's logger (rate-limited, bound to its name). */
  readonly log: Logger;
}

type PickResult = BackendChoice | null | Promise<BackendChoice | null>;

/**
 * Connects a session to its backend and, when that fails, to another one the
 * picker gives while retries are left (HAProxy's `option redispatch`), so the
 * client sees a failure only when every try failed. Every dial of the engine is
 * timed out by one deadline queue. Counts the failures and redispatches.
 */
export class BackendConnector {
  readonly #o: BackendConnectorOptions;
  readonly #dials: ConnectDeadlines<Session>;
  #retries: number;
  #connectFailures = 0;
  #redispatches = 0;

  constructor(options: BackendConnectorOptions) {
    this.#o = options;
    this.#retries = checkRetries(options.retries);
    const timeoutMs = options.connectTimeoutMs;
    this.#dials = new ConnectDeadlines(timeoutMs, options.sessions, (session) => {
      const { host, port, scheme } = session.choice.address;
      // As connect() says it (its 'error' comes back through connect()'s listener).
      session.dialingStream?.destroy(
        connectTimeoutError(`${scheme} connect to ${host}:${port}`, timeoutMs),
      );
    });
  }

  /** Redispatches allowed per session (connects that start from now on). */
  get retries(): number {
    return this.#retries;
  }

  set retries(retries: number) {
    this.#retries = checkRetries(retries);
  }

  get connectFailures(): number {
    return this.#connectFailures;
  }

  get redispatches(): number {
    return this.#redispatches;
  }

  /** Stop the deadline timer (the engine is closing and kills its sessions). */
  clear(): void {
    this.#dials.clear();
  }

  /**
   * Connect to the session's backend (`tried`: the backends that already
   * failed for it). A transport that dials synchronously (plain tcp) is
   * connected without a promise, a timer or an AbortSignal of its own: the
   * session destroys the connecting stream if its client leaves, and the
   * one deadline queue times it out. Others go through `connect()`.
   */
  connect(session: Session, context: PickContext, tried: Address[] | undefined): void {
    const address = session.choice.address;
    const fd = this.#o.registry.dial(address);
    if (fd === null) {
      void this.#connectAsync(session, context, tried);
      session.readAhead();
      return;
    }
    const onError = (err: Error): void => {
      fd.off('connect', onConnect);
      if (session.dialingStream === fd) session.dialing(null);
      fd.destroy();
      // Destroyed by the session (its client left first): nothing failed.
      if (session.state === 'connecting') void this.#failed(session, context, err, tried);
    };
    const onConnect = (): void => {
      fd.off('error', onError);
      session.attach(fd, this.#o.backendPreamble?.(context, fd) ?? null);
    };
    fd.once('error', onError);
    fd.once('connect', onConnect);
    session.dialing(fd);
    this.#dials.started();
    session.readAhead();
  }

  async #connectAsync(
    session: Session,
    context: PickContext,
    tried: Address[] | undefined,
  ): Promise<void> {
    const signal = session.connectAbort.signal;
    try {
      const backend = await this.#o.registry.connect(session.choice.address, {
        timeoutMs: this.#o.connectTimeoutMs,
        signal,
      });
      session.attach(backend, this.#o.backendPreamble?.(context, backend) ?? null);
    } catch (err) {
      if (signal.aborted) return; // the client left first; nothing failed
      await this.#failed(session, context, err, tried);
    }
  }

  /** The connect failed: redispatch to a backend not tried yet, or fail the session. */
  async #failed(
    session: Session,
    context: PickContext,
    err: unknown,
    tried: Address[] | undefined,
  ): Promise<void> {
    const choice = session.choice;
    this.#connectFailures++;
    const error = err instanceof Error ? err : new Error(String(err));
    let next: BackendChoice | null = null;
    let nowTried = tried;
    const repick = this.#o.repick;
    if ((tried?.length ?? 0) < this.#retries && repick !== undefined) {
      nowTried = [...(tried ?? []), choice.address];
      next = notTried(await repick(context, nowTried), nowTried);
    }
    if (this.#o.log.enabled('warn')) {
      this.#o.log.warn(
        'backend-connect-failed',
        connectFailureFields(session, choice, error, next),
      );
    }
    if (next !== null) {
      if (!session.redispatch(next, error)) return;
      this.#redispatches++;
      this.connect(session, context, nowTried);
      return;
    }
    session.connectFailed(new BackendConnectError(formatAddress(choice.address), err));
  }
}
