import type { IncomingMessage } from 'node:http';
import { ControlError } from '../errors.js';

// Which HTTP requests the controller accepts before running anything, kept
// apart from routing so the rules read in one place:
//
// - Reads (GET, HEAD) may use the status page's cookie; writes need the bearer
//   header. A browser attaches cookies to requests from any page, and every
//   port of 127.0.0.1 is the same *site* to it, so SameSite=Strict does not
//   stop a page on another local port; it cannot add an Authorization header
//   without a CORS preflight, which the controller never grants.
// - A request carrying an Origin that is not the controller's own is refused
//   whatever its credentials (defence in depth; browsers send Origin on every
//   cross-origin POST).
// - A request body must be declared application/json, so a form or a no-cors
//   fetch (text/plain, form encodings) can never be read as a command.
// - Malformed percent-encoding is the client's mistake: 400, never 500.

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Whether `method` may change state (everything but GET and HEAD). */
export function isWrite(method: string | undefined): boolean {
  return !SAFE_METHODS.has(method ?? 'GET');
}

/** decodeURIComponent, with malformed input as a 400 naming what was malformed. */
export function decodeComponent(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ControlError(
      'ERR_REQUEST_INVALID',
      `malformed percent-encoding in ${what}: ${JSON.stringify(text.slice(0, 64))}`,
    );
  }
}

/** The request URL, or a 400 when it cannot be one (Node passes absolute forms through). */
export function requestUrl(req: IncomingMessage): URL {
  try {
    return new URL(req.url ?? '/', 'http://controller');
  } catch {
    throw new ControlError('ERR_REQUEST_INVALID', 'malformed request target');
  }
}

/** The session cookie's token, decoded; undefined when absent. */
export function cookieToken(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    return decodeComponent(part.slice(eq + 1).trim(), `cookie ${name}`);
  }
  return undefined;
}

/** Host part (`host[:port]`, lower case, default port dropped) of an origin or Host header. */
function hostOf(text: string, withScheme: boolean): string | undefined {
  try {
    const url = new URL(withScheme ? text : `http://${text}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.host;
  } catch {
    return undefined;
  }
}

/**
 * Refuse a request whose Origin is present and not the controller's own (as
 * named by the Host header the browser sent). `Origin: null` (sandboxed
 * frames, file: pages, some redirects) is never our own.
 */
export function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const host = req.headers.host;
  const ours = host === undefined ? undefined : hostOf(host, false);
  if (ours === undefined || hostOf(origin, true) !== ours) {
    throw new ControlError(
      'ERR_FORBIDDEN',
      `cross-origin request refused: Origin ${JSON.stringify(origin.slice(0, 100))} is not this controller`,
    );
  }
}

/** Refuse a body that is not declared JSON (forms and no-cors fetches cannot declare it). */
export function checkJsonBody(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ControlError(
      'ERR_CONTENT_TYPE_INVALID',
      `the body must be sent as Content-Type: application/json (got ${JSON.stringify(type || 'none')})`,
    );
  }
}
