import { isIPv4, isIPv6 } from 'node:net';
import { VproxyError } from './errors.js';

/**
 * A transport address: `scheme://host:port[/path][?options]`.
 *
 * `scheme` is a `+`-joined stack, outermost layer first (`tls+tcp` = TLS over TCP).
 * A bare `host:port` means `tcp://host:port`. IPv6 hosts are written in brackets
 * and stored without them. Options are string-valued so that every address can
 * live in a config file or a command line unchanged.
 */
export interface Address {
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
  /** '' or a path starting with '/'. */
  readonly path: string;
  readonly options: Readonly<Record<string, string>>;
}

const SCHEME_PART = /^[a-z][a-z0-9-]*$/;
const HOST_LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const LOOKS_LIKE_IPV4 = /^[0-9.]+$/;
const OPTION_KEY = /^[a-z0-9][a-z0-9_.-]*$/i;
// Visible ASCII except the characters that end a path or start a fragment.
const PATH = /^\/[\x21-\x22\x24-\x3e\x40-\x7e]*$/;

function fail(text: string, why: string): never {
  throw new VproxyError('ERR_ADDRESS_INVALID', `invalid address "${text}": ${why}`);
}

/** Parse an address string; throws VproxyError(ERR_ADDRESS_INVALID) naming the bad part. */
export function parseAddress(text: string): Address {
  if (typeof text !== 'string') fail(String(text), 'an address must be a string');
  if (text.length === 0) fail(text, 'empty address');
  if (text.length > 4096) fail(`${text.slice(0, 32)}…`, 'longer than 4096 characters');
  if (/\s/.test(text)) fail(text, 'contains white space');
  if (text.includes('#')) fail(text, 'fragments (#…) are not allowed');

  let rest = text;
  let scheme = 'tcp';
  // A scheme is whatever precedes the first "://", as long as no path or
  // query started before it (so "h:1?u=http://x" is a bare address).
  const withScheme = /^([^/?]*):\/\//.exec(rest);
  if (withScheme) {
    scheme = parseScheme(text, withScheme[1] ?? '');
    rest = rest.slice(withScheme[0].length);
  } else if (/^[^/?]*:\/(?!\/)/.test(rest)) {
    fail(text, 'malformed scheme separator (expected "scheme://")');
  }

  let options: Record<string, string> = Object.create(null);
  const q = rest.indexOf('?');
  if (q >= 0) {
    options = parseOptions(text, rest.slice(q + 1));
    rest = rest.slice(0, q);
  }

  let path = '';
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    path = rest.slice(slash);
    rest = rest.slice(0, slash);
    if (!PATH.test(path)) fail(text, `path "${path}" has a character that is not allowed`);
  }

  if (rest.includes('@')) fail(text, 'credentials (user@host) are not supported in addresses');
  const { host, portText } = splitHostPort(text, rest);
  return { scheme, host, port: parsePort(text, portText), path, options };
}

function parseScheme(text: string, raw: string): string {
  if (raw.length === 0) fail(text, 'empty scheme before "://"');
  const parts = raw.toLowerCase().split('+');
  for (const part of parts) {
    if (!SCHEME_PART.test(part)) {
      fail(
        text,
        `scheme part "${part}" must start with a letter and hold only letters, digits, "-"`,
      );
    }
  }
  return parts.join('+');
}

function splitHostPort(text: string, hostPort: string): { host: string; portText: string } {
  if (hostPort.length === 0) fail(text, 'missing host and port');
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) fail(text, 'IPv6 host is missing its closing "]"');
    const host = hostPort.slice(1, close);
    if (!isIPv6(host)) fail(text, `"${host}" is not a valid IPv6 address`);
    const after = hostPort.slice(close + 1);
    if (after.length === 0) fail(text, 'missing port after the IPv6 host (expected "[host]:port")');
    if (!after.startsWith(':')) fail(text, `unexpected "${after}" after the IPv6 host`);
    return { host, portText: after.slice(1) };
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon < 0) fail(text, 'missing port (expected "host:port")');
  const host = hostPort.slice(0, colon);
  if (host.includes(':')) {
    if (isIPv6(host)) fail(text, 'an IPv6 host must be written in brackets, e.g. "[::1]:80"');
    fail(text, `"${host}" is not a valid host (a scheme is followed by "://")`);
  }
  if (host.length === 0)
    fail(text, 'missing host before ":port" (use 0.0.0.0 to mean every address)');
  validateHost(text, host);
  return { host, portText: hostPort.slice(colon + 1) };
}

function validateHost(text: string, host: string): void {
  if (LOOKS_LIKE_IPV4.test(host)) {
    if (!isIPv4(host)) fail(text, `"${host}" is not a valid IPv4 address`);
    return;
  }
  if (host.length > 253) fail(text, 'host name is longer than 253 characters');
  for (const label of host.split('.')) {
    if (!HOST_LABEL.test(label)) fail(text, `host name label "${label}" is not valid`);
  }
}

function parsePort(text: string, portText: string): number {
  if (portText.length === 0) fail(text, 'missing port number after ":"');
  if (!/^[0-9]{1,5}$/.test(portText)) fail(text, `port "${portText}" is not a number`);
  const port = Number(portText);
  if (port > 65535) fail(text, `port ${port} is out of range 0-65535`);
  return port;
}

function parseOptions(text: string, query: string): Record<string, string> {
  const options: Record<string, string> = Object.create(null);
  if (query.length === 0) return options;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    if (!OPTION_KEY.test(key)) fail(text, `option name "${key}" is not valid`);
    if (Object.hasOwn(options, key)) fail(text, `option "${key}" is given twice`);
    let value: string;
    try {
      value = decodeURIComponent(rawValue);
    } catch {
      fail(text, `option "${key}" has a malformed %-escape`);
    }
    // encodeURIComponent (formatAddress) throws on lone surrogates: reject them here.
    if (!value.isWellFormed()) fail(text, `option "${key}" is not valid Unicode`);
    options[key] = value;
  }
  return options;
}

/** `host:port`, with brackets around IPv6 hosts. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The canonical text of an address; `parseAddress(formatAddress(a))` equals `a`. */
export function formatAddress(address: Address): string {
  let text = `${address.scheme}://${formatHostPort(address.host, address.port)}${address.path}`;
  const keys = Object.keys(address.options);
  if (keys.length > 0) {
    text += `?${keys
      .map((k) => {
        const v = address.options[k] ?? '';
        return v === '' ? k : `${k}=${encodeURIComponent(v)}`;
      })
      .join('&')}`;
  }
  return text;
}

/** Accepts either form so that APIs can take config strings or parsed addresses. */
export function toAddress(address: string | Address): Address {
  return typeof address === 'string' ? parseAddress(address) : address;
}
