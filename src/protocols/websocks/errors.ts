import { type ErrorCode, VproxyError } from '../../fd/errors.js';

/** Which step of the WebSocks handshake refused, in the order §3.3 checks them. */
export type WebsocksCheck =
  | 'method'
  | 'upgrade'
  | 'pipelined'
  | 'path'
  | 'auth'
  | 'replay'
  | 'protocol'
  | 'request'
  | 'response';

/**
 * A refused WebSocks handshake. `status` is what the reference server answers
 * (400, 401 with `WWW-Authenticate: Basic`, 404 for a wrong secret path) — an
 * app that hides behind a web site answers as the site would instead, but
 * still logs and counts by `check`. On the client side `status` is the status
 * the server sent (e.g. 401: our credentials were refused), or null.
 */
export class WebsocksError extends VproxyError {
  readonly check: WebsocksCheck;
  readonly status: number | null;

  constructor(
    code: ErrorCode,
    check: WebsocksCheck,
    status: number | null,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `websocks ${check}: ${message}`, options);
    this.name = 'WebsocksError';
    this.check = check;
    this.status = status;
  }
}

/**
 * An agent config that will not load. `line` is the 1-based line the problem
 * is on, or 0 for a whole-file problem (a missing key, unmatched lists); the
 * message starts with "line N:" so it reads well on its own.
 */
export class AgentConfigError extends VproxyError {
  readonly line: number;

  constructor(line: number, message: string, options?: { cause?: unknown }) {
    super('ERR_WEBSOCKS_CONFIG_INVALID', line > 0 ? `line ${line}: ${message}` : message, options);
    this.name = 'AgentConfigError';
    this.line = line;
  }
}
