import { type ErrorCodeTable, VproxyError } from '../../fd/errors.js';

/** Codes of the WebSocks handshake and agent config (src/protocols/websocks). */
export const WEBSOCKS_ERROR_CODES = {
  ERR_WEBSOCKS_REQUEST_INVALID:
    'an upgrade request (or one we would send) that breaks the handshake rules',
  ERR_WEBSOCKS_AUTH_FAILED: 'credentials the server does not accept',
  ERR_WEBSOCKS_REPLAYED: 'an Authorization header seen more often than its budget this minute',
  ERR_WEBSOCKS_RESPONSE_INVALID: "a server's upgrade response that is not a WebSocks 101",
  ERR_WEBSOCKS_CONFIG_INVALID: 'an agent config that will not load',
} as const satisfies ErrorCodeTable;

export type WebsocksErrorCode = keyof typeof WEBSOCKS_ERROR_CODES;

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
export class WebsocksError extends VproxyError<WebsocksErrorCode> {
  readonly check: WebsocksCheck;
  readonly status: number | null;

  constructor(
    code: WebsocksErrorCode,
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
export class AgentConfigError extends VproxyError<WebsocksErrorCode> {
  readonly line: number;

  constructor(line: number, message: string, options?: { cause?: unknown }) {
    super('ERR_WEBSOCKS_CONFIG_INVALID', line > 0 ? `line ${line}: ${message}` : message, options);
    this.name = 'AgentConfigError';
    this.line = line;
  }
}
