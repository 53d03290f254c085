import { type ErrorCodeTable, VproxyError } from '../../fd/errors.js';

/** Codes of HTTP/1.1 request heads for proxies (src/protocols/http-proxy). */
export const HTTP_ERROR_CODES = {
  ERR_HTTP_MALFORMED: 'a request or response head that does not parse',
  ERR_HTTP_HEAD_TOO_LARGE: 'a head over the size limit',
  ERR_HTTP_TOO_MANY_HEADERS: 'a head with more header lines than the limit',
  ERR_HTTP_PROXY_TARGET_INVALID: 'a proxy request whose target is not a host:port or absolute URL',
  ERR_HTTP_PROXY_UNSUPPORTED: 'a request form a proxy does not serve (e.g. a relative target)',
} as const satisfies ErrorCodeTable;

export type HttpErrorCode = keyof typeof HTTP_ERROR_CODES;

/**
 * A request head we refuse. `status` is the HTTP status a server should answer
 * with before closing (400 for syntax, 431 for oversize heads, 501 for forms a
 * proxy does not serve), so the front end never has to map codes itself.
 */
export class HttpError extends VproxyError<HttpErrorCode> {
  readonly status: number;

  constructor(code: HttpErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'HttpError';
    this.status = status;
  }
}

export function malformed(message: string): HttpError {
  return new HttpError('ERR_HTTP_MALFORMED', 400, message);
}

export function badTarget(message: string): HttpError {
  return new HttpError('ERR_HTTP_PROXY_TARGET_INVALID', 400, message);
}

export function unsupported(message: string): HttpError {
  return new HttpError('ERR_HTTP_PROXY_UNSUPPORTED', 501, message);
}

/** At most 40 characters of untrusted text, JSON-quoted, for error messages. */
export function shown(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}
