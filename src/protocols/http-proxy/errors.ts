import { type ErrorCode, VproxyError } from '../../fd/errors.js';

/**
 * A request head we refuse. `status` is the HTTP status a server should answer
 * with before closing (400 for syntax, 431 for oversize heads, 501 for forms a
 * proxy does not serve), so the front end never has to map codes itself.
 */
export class HttpError extends VproxyError {
  readonly status: number;

  constructor(code: ErrorCode, status: number, message: string, options?: { cause?: unknown }) {
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
