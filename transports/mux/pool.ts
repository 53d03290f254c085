import type { Address } from '../../src/fd/address.js';
import { awaitReady } from '../../src/fd/deadline.js';
import { isVproxyError } from '../../src/fd/errors.js';
import type { ConnectOptions, Transport } from '../../src/fd/transport.js';
import type { MuxOptions, PoolOptions } from './config.js';
import { MuxError, type MuxErrorCode } from './errors.js';
import { MuxSession } from './session.js';
import type { MuxStream } from './stream.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** A client session's first stream id (client ids are odd, from 1). */
const FIRST_STREAM_ID = 1;
const RETRYABLE: readonly MuxErrorCode[] = [
  'ERR_MUX_RESET',
  'ERR_MUX_LIMIT',
  'ERR_MUX_SESSION_CLOSED',
];

/** One pooled session, or the promise of one while its inner connection is being made. */
class Entry {
  /** Resolves once the session exists (its inner stream connected, handshake under way). */
  created!: Promise<MuxSession>;
  /** Resolves once the session's handshake is done. */
  ready!: Promise<MuxSession>;
  session: MuxSession | null = null;
  /** connect() calls that picked this entry and have not opened their stream yet. */
  reserved = 0;
  idleTimer: NodeJS.Timeout | null = null;
  dead = false;
}

/**
 * The client sessions to one target. The inner connection is made lazily, on
 * the first connect(); sessions are reused while healthy and dropped when they
 * fail or drain, so the next connect() opens a fresh one. With `sessions=N`
 * streams are spread over up to N sessions (least loaded first); with
 * `streams-per-session=M` another session is opened once every one carries M.
 */
export class SessionPool {
  readonly #inner: Transport;
  readonly #address: Address;
  readonly #mux: MuxOptions;
  readonly #pool: PoolOptions;
  readonly #entries: Entry[] = [];
  readonly #onEmpty: () => void;

  constructor(
    inner: Transport,
    address: Address,
    mux: MuxOptions,
    pool: PoolOptions,
    onEmpty: () => void,
  ) {
    this.#inner = inner;
    this.#address = address;
    this.#mux = mux;
    this.#pool = pool;
    this.#onEmpty = onEmpty;
  }

  /** Sessions alive or being set up (for tests and status pages). */
  get size(): number {
    return this.#entries.length;
  }

  sessions(): MuxSession[] {
    return this.#entries.flatMap((e) => (e.session === null ? [] : [e.session]));
  }

  /**
   * Open a stream; one retry on a fresh session if it was refused before it was handed out.
   * On a session that is up, it is handed out on its SYN-ACK. With early open (the default),
   * a stream opened while its session is being set up sends its SYN at once and is handed
   * out as soon as the session has heard the server: a refusal after that reaches the
   * caller as the stream's ERR_MUX_RESET, like a reset connection.
   */
  async open(options: ConnectOptions): Promise<MuxStream> {
    const started = Date.now();
    try {
      return await this.#openOnce(options, options.timeoutMs);
    } catch (err) {
      // A session that started draining (GOAWAY), hit its peer's stream limit or
      // died under us refuses new streams: worth one more try on a fresh session.
      if (!RETRYABLE.some((code) => isVproxyError(err, code)) || options.signal?.aborted) {
        throw err;
      }
      const left =
        options.timeoutMs === undefined
          ? undefined
          : Math.max(1, options.timeoutMs - (Date.now() - started));
      return this.#openOnce(options, left);
    }
  }

  async #openOnce(options: ConnectOptions, timeoutMs: number | undefined): Promise<MuxStream> {
    let stream: MuxStream | undefined;
    let gaveUp = false;
    const entry = this.#pick(timeoutMs);
    entry.reserved++;
    const early = this.#mux.early !== false && this.#mux.legacy !== true;
    const ready = (async () => {
      let session: MuxSession;
      try {
        session = await (early ? entry.created : entry.ready);
      } finally {
        entry.reserved--;
      }
      if (gaveUp) return;
      const opened = session.openStream();
      stream = opened;
      this.#busy(entry);
      // A session that is already up may have lost its peer since it last heard it (a
      // restarted server answers our next datagram with a reset): its streams wait for
      // their SYN-ACK as a TCP connect does, so a dead session fails here, is retried on a
      // fresh one, and a load balancer can still fail over on a connect error. Early open
      // serves a session's set-up, where the server has just proved itself alive.
      if (!early || session.isReady) {
        await connected(opened);
        return;
      }
      // The server's SETTINGS prove it alive (a refusal of our SYN would come right behind).
      // The session's first stream may go sooner, once an inner stream that can tell says it
      // heard the server (see PeerHeard): every server allows one stream, so only a server
      // that is closing refuses it. Later ones wait for the SETTINGS, which carry the limit,
      // so that a burst beyond it is still retried here instead of reset under the caller.
      // Until the caller has the stream, its failure is this promise's, not an 'error' event
      // (a stream that failed keeps the no-op listener: its 'error' may still be on its way).
      const quiet = () => {};
      opened.on('error', quiet);
      await (opened.id === FIRST_STREAM_ID ? serverHeard(session) : session.whenReady());
      if (opened.destroyed) throw opened.errored ?? streamClosed(opened);
      opened.off('error', quiet);
    })();
    const { host, port } = this.#address;
    await awaitReady(
      ready,
      { timeoutMs, signal: options.signal },
      `mux stream to ${host}:${port}`,
      () => {
        gaveUp = true;
        stream?.destroy();
      },
    );
    return stream as MuxStream;
  }

  /** The least loaded usable entry, or a new one when fewer than `sessions` are usable. */
  #pick(timeoutMs: number | undefined): Entry {
    let best: Entry | null = null;
    let usable = 0;
    let bestLoad = Infinity;
    for (const entry of this.#entries) {
      const session = entry.session;
      if (entry.dead || (session !== null && !session.canOpen)) continue;
      const load = (session?.localStreamCount ?? 0) + entry.reserved;
      if (load >= this.#pool.streamsPerSession) continue;
      usable++;
      if (load < bestLoad) {
        best = entry;
        bestLoad = load;
      }
    }
    if (best !== null && usable >= this.#pool.sessions) return best;
    return this.#create(timeoutMs);
  }

  #create(timeoutMs: number | undefined): Entry {
    const entry = new Entry();
    entry.created = (async () => {
      // Shared by every caller that picks this entry: no one caller's signal may abort it.
      const fd = await this.#inner.connect(this.#address, {
        timeoutMs: timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      });
      const session = MuxSession.client(fd, this.#mux);
      entry.session = session;
      session.once('close', () => this.#remove(entry));
      session.on('goaway', () => this.#remove(entry));
      session.on('idle', () => this.#idle(entry));
      return session;
    })();
    entry.ready = entry.created.then(async (session) => {
      await session.whenReady();
      return session;
    });
    entry.ready.catch(() => this.#remove(entry));
    this.#entries.push(entry);
    return entry;
  }

  #busy(entry: Entry): void {
    if (entry.idleTimer !== null) clearTimeout(entry.idleTimer);
    entry.idleTimer = null;
  }

  #idle(entry: Entry): void {
    const ms = this.#pool.sessionIdleMs;
    if (ms <= 0 || entry.dead) return;
    this.#busy(entry);
    entry.idleTimer = setTimeout(() => {
      entry.idleTimer = null;
      if (entry.session !== null && entry.session.streamCount === 0 && entry.reserved === 0) {
        this.#remove(entry);
        void entry.session.close();
      }
    }, ms).unref();
  }

  /**
   * Close every session of the pool, open or being set up (their streams finish
   * first: a graceful close). Its owner is going away: a pooled session would
   * otherwise hold its inner connection (for kcp, a UDP socket that keeps the
   * process alive) until its idle timer, a minute later.
   */
  async close(): Promise<void> {
    const entries = [...this.#entries];
    for (const entry of entries) this.#remove(entry);
    await Promise.all(
      entries.map(async (entry) => {
        const session = await entry.created.catch(() => null);
        await session?.close();
      }),
    );
  }

  /** Forget an entry (a draining session still serves the streams it has). */
  #remove(entry: Entry): void {
    entry.dead = true;
    this.#busy(entry);
    const at = this.#entries.indexOf(entry);
    if (at >= 0) this.#entries.splice(at, 1);
    if (this.#entries.length === 0) this.#onEmpty();
  }
}

/**
 * An inner stream whose connect returns before its peer answered (a KCP session: UDP has no
 * handshake) may say when it first heard the peer; for kcp:// that is the listener's cookie
 * RETRY, a round trip before the mux SETTINGS can arrive.
 */
export interface PeerHeard {
  whenPeerHeard(): Promise<void>;
}

/** Resolves once the session is ready or its inner stream heard the server; rejects if it fails first. */
function serverHeard(session: MuxSession): Promise<void> {
  const ready = session.whenReady();
  const inner = session.inner as Partial<PeerHeard>;
  if (typeof inner.whenPeerHeard !== 'function') return ready;
  return Promise.race([ready, inner.whenPeerHeard()]);
}

function streamClosed(stream: MuxStream): MuxError {
  return new MuxError('ERR_MUX_SESSION_CLOSED', `mux stream ${stream.id} closed while opening`);
}

/** Resolves on 'connect' (SYN-ACK); rejects on 'error' or a close without it. */
function connected(stream: MuxStream): Promise<void> {
  if (!stream.connecting) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stream.off('connect', onConnect);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(streamClosed(stream));
    stream.on('connect', onConnect);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
