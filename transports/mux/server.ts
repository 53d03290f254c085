import { EventEmitter } from 'node:events';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { MuxOptions } from './config.js';
import { MuxSession } from './session.js';

/**
 * Accepts inner connections, runs a server session on each and emits every
 * stream a client opens as a 'connection'. A session that fails before its
 * handshake is reported as 'handshakeError'. close() stops accepting and drains
 * the sessions: they refuse new streams (GOAWAY) and end once their streams have.
 */
export class MuxServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind: string;
  readonly #inner: ServerFD;
  readonly #options: MuxOptions;
  readonly #sessions = new Set<MuxSession>();
  #closed = false;

  constructor(kind: string, inner: ServerFD, options: MuxOptions) {
    super();
    this.kind = kind;
    this.#inner = inner;
    this.#options = { ...options, kind };
    inner.on('connection', (fd) => this.#accept(fd));
    inner.on('error', (err) => this.emit('error', err));
    inner.on('handshakeError', (err) => this.emit('handshakeError', err));
  }

  /** Sessions alive now (one per client connection). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  sessions(): MuxSession[] {
    return [...this.#sessions];
  }

  address(): BoundAddress {
    return this.#inner.address();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#inner.close();
    for (const session of this.#sessions) void session.close();
  }

  #accept(fd: StreamFD): void {
    if (this.#closed) {
      fd.destroy();
      return;
    }
    const session = MuxSession.server(fd, this.#options);
    this.#sessions.add(session);
    session.on('stream', (stream) => this.emit('connection', stream));
    session.once('close', (err) => {
      this.#sessions.delete(session);
      if (err !== undefined && !session.everReady) this.emit('handshakeError', err);
    });
  }
}
