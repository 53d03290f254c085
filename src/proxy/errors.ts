import {
  type CoreErrorCode,
  codedError,
  connectFailureCode,
  type ErrorCodeTable,
  VproxyError,
} from '../fd/errors.js';

/** Codes of the proxy engine (src/proxy). A failed backend connect carries the connect's own code (see BackendConnectError). */
export const PROXY_ERROR_CODES = {
  ERR_FIN_TIMEOUT: "a half-closed session's open direction was silent for its fin timeout",
  ERR_SESSION_KILLED: 'the session was killed by the control plane or the embedder',
  ERR_NO_BACKEND: 'a picker was built with no backend to pick',
  ERR_CLIENT_CLOSED: 'the client closed while its backend was being connected',
} as const satisfies ErrorCodeTable;

export type ProxyErrorCode = keyof typeof PROXY_ERROR_CODES;

export class ProxyError extends codedError('ProxyError', PROXY_ERROR_CODES) {}

/**
 * A backend connect that failed on every try. Its code is the failure's own
 * (connectFailureCode): ERR_CONNECT_TIMEOUT, ERR_CONNECT_REFUSED,
 * ERR_CONNECTION_RESET, a layer's handshake code…, so a client or an access log
 * can tell a refused backend from a silent one; `cause` is the connect's error.
 */
export class BackendConnectError extends VproxyError<string> {
  constructor(backend: string, cause: unknown) {
    super(
      // A module's code when the connect's error carried one (every code is one of a table).
      connectFailureCode(cause) as CoreErrorCode,
      `backend ${backend}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'BackendConnectError';
  }
}
