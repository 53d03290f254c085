import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { StreamFD } from '../../fd/stream-fd.js';
import { ClientDeadline, type RefusalReason } from './connection-guard.js';

export interface HttpTimeouts {
  /** From accept (or the first byte after an idle keep-alive) to complete headers. */
  readonly headersMs: number;
  /** From complete headers to the end of the response (body upload included). */
  readonly requestMs: number;
  /** An idle keep-alive connection, between requests. */
  readonly keepAliveMs: number;
}

export const DEFAULT_HTTP_TIMEOUTS: HttpTimeouts = {
  headersMs: 10_000,
  requestMs: 30_000,
  keepAliveMs: 5_000,
};

interface Conn {
  readonly deadline: ClientDeadline;
  inflight: number;
  /** bytesRead when the connection went idle, to tell "idle" from "slowly sending headers". */
  idleBytes: number;
}

/**
 * The header, request and keep-alive timeouts of an `http.Server` that is fed
 * connections by hand. Node runs its own checks (headersTimeout,
 * requestTimeout) only from `listen()`, which ours never calls: the port is a
 * ServerFD of any transport. So each connection gets one ClientDeadline whose
 * phase follows the requests: headers → request → keep-alive → headers …
 */
export class HttpConnectionGuard {
  readonly #timeouts: HttpTimeouts;
  readonly #onRefuse: (reason: RefusalReason) => void;
  readonly #conns = new WeakMap<object, Conn>();

  constructor(http: Server, timeouts: HttpTimeouts, onRefuse: (reason: RefusalReason) => void) {
    this.#timeouts = timeouts;
    this.#onRefuse = onRefuse;
    http.on('request', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res));
  }

  /** Start guarding a connection; call before handing it to the http.Server. */
  watch(fd: StreamFD): void {
    const conn: Conn = {
      inflight: 0,
      idleBytes: 0,
      deadline: new ClientDeadline(fd, (reason) => {
        // An idle keep-alive that has started sending its next request is
        // not idle: it gets the headers deadline from here instead.
        if (reason === 'idleTimeout' && fd.bytesRead > conn.idleBytes) {
          conn.deadline.set(this.#timeouts.headersMs, 'handshakeTimeout');
          return false;
        }
        this.#onRefuse(reason);
        return true;
      }),
    };
    this.#conns.set(fd, conn);
    conn.deadline.set(this.#timeouts.headersMs, 'handshakeTimeout');
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const fd = req.socket;
    const conn = this.#conns.get(fd);
    if (conn === undefined) return;
    conn.inflight++;
    conn.deadline.set(this.#timeouts.requestMs, 'requestTimeout');
    res.once('close', () => {
      conn.inflight--;
      if (conn.inflight > 0 || fd.destroyed) return;
      conn.idleBytes = fd.bytesRead;
      conn.deadline.set(this.#timeouts.keepAliveMs, 'idleTimeout');
    });
  }
}
