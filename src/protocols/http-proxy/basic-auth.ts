import { malformed } from './errors.js';

/** The user and password of an RFC 7617 `Basic` credential. */
export interface BasicCredentials {
  readonly user: string;
  readonly password: string;
}

const TOKEN68 = /^[A-Za-z0-9+/]+={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The value of an Authorization or Proxy-Authorization header → credentials,
 * or null when the scheme is not Basic (the caller answers 401/407 as for no
 * header). A Basic value that does not decode is an error, not "no
 * credentials": a client that garbles its password should hear why.
 * The user is everything before the first ':' (RFC 7617: it cannot contain one).
 */
export function parseBasicAuthorization(value: string): BasicCredentials | null {
  const space = value.indexOf(' ');
  const scheme = space < 0 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'basic') return null;
  const token = value.slice(space + 1).replace(/^ +/, '');
  if (space < 0 || !TOKEN68.test(token) || token.length % 4 !== 0) {
    throw malformed('Basic credentials are not base64');
  }
  let text: string;
  try {
    text = utf8.decode(Buffer.from(token, 'base64'));
  } catch {
    throw malformed('Basic credentials are not UTF-8');
  }
  const colon = text.indexOf(':');
  if (colon < 0) throw malformed("Basic credentials have no ':' between user and password");
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** `Basic base64(user ":" password)` (UTF-8). */
export function formatBasicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}
