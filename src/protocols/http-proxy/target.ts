import { isIPv4, isIPv6 } from 'node:net';
import { canonicalIp } from '../inet.js';
import { badTarget, shown, unsupported } from './errors.js';

export type HostType = 'name' | 'ipv4' | 'ipv6';

/** Where a proxy request wants to go. */
export interface Target {
  /** Lower-case name, dotted IPv4, or canonical IPv6 without brackets. */
  readonly host: string;
  readonly hostType: HostType;
  readonly port: number;
}

const PORT = /^[0-9]{1,5}$/;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/;

function parsePort(text: string, whole: string): number {
  if (!PORT.test(text)) throw badTarget(`bad port ${shown(text)} in ${shown(whole)}`);
  const port = Number(text);
  // Port 0 means "any port" to the socket API: as a destination it is never meaningful.
  if (port < 1 || port > 65535) throw badTarget(`port ${port} is out of range 1-65535`);
  return port;
}

/**
 * A host name as a proxy may dial it: LDH labels (underscore allowed, as real
 * DNS has them), one optional trailing dot dropped, lower-cased. A name whose
 * last label is numeric but that is not a dotted quad (`127.1`, `0x7f.1`) is
 * refused: resolvers read such text as an IPv4 address, which would let a
 * client reach an address that rules on IP literals never saw.
 */
export function parseHostName(text: string, whole: string = text): string {
  let name = text.toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0 || name.length > 253) throw badTarget(`bad host in ${shown(whole)}`);
  const labels = name.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) throw badTarget(`bad host name ${shown(text)}`);
  }
  if (NUMERIC_LABEL.test(labels[labels.length - 1] as string)) {
    throw badTarget(`${shown(text)} is neither a host name nor a dotted-quad IPv4 address`);
  }
  return name;
}

/**
 * `host:port`, `[ipv6]:port`, or (with `defaultPort`) a bare host, as in a
 * CONNECT request-target or a URI's authority. An IPv6 literal must be
 * bracketed: `::1:443` could mean port 443 of `::1` or the address `::1:443`
 * itself, so guessing (the reference split at the last ':') is refused.
 */
export function parseAuthority(text: string, defaultPort?: number): Target {
  let hostText: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw badTarget(`unclosed '[' in ${shown(text)}`);
    hostText = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest.startsWith(':')) portText = rest.slice(1);
    else if (rest.length > 0) throw badTarget(`unexpected ${shown(rest)} after ']'`);
    if (!isIPv6(hostText) || hostText.includes('%')) {
      throw badTarget(`${shown(hostText)} is not an IPv6 address (zones are not accepted)`);
    }
  } else {
    const first = text.indexOf(':');
    if (first >= 0 && text.indexOf(':', first + 1) >= 0) {
      throw badTarget(`IPv6 address in ${shown(text)} must be in brackets: [addr]:port`);
    }
    hostText = first < 0 ? text : text.slice(0, first);
    if (first >= 0) portText = text.slice(first + 1);
  }
  let port: number;
  if (portText !== undefined) port = parsePort(portText, text);
  else if (defaultPort !== undefined) port = defaultPort;
  else throw badTarget(`missing port in ${shown(text)}`);
  if (text.startsWith('[')) return { host: canonicalIp(hostText), hostType: 'ipv6', port };
  if (isIPv4(hostText)) return { host: hostText, hostType: 'ipv4', port };
  return { host: parseHostName(hostText, text), hostType: 'name', port };
}

/** `host[:port]` as a Host header or URI authority writes it (IPv6 in brackets). */
export function formatAuthority(target: Target, defaultPort?: number): string {
  const host = target.hostType === 'ipv6' ? `[${target.host}]` : target.host;
  return target.port === defaultPort ? host : `${host}:${target.port}`;
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

/**
 * An absolute-form request-target `http://authority[/path][?query]` → its
 * target and the origin-form (`/path?query`) an origin server expects. Only
 * `http`: anything else through a plain proxy is a client mistake (https goes
 * through CONNECT). User info (`user@host`) is refused, as browsers refuse it
 * in proxied requests: it is a classic way to disguise the real host.
 */
export function parseAbsoluteUri(uri: string): { target: Target; originForm: string } {
  const m = SCHEME.exec(uri);
  if (!m) throw unsupported(`request target ${shown(uri)} is not an absolute URI`);
  const scheme = (m[1] as string).toLowerCase();
  if (scheme !== 'http') {
    throw unsupported(`scheme ${shown(scheme)} cannot be proxied as a plain request; use CONNECT`);
  }
  const rest = uri.slice(m[0].length);
  let end = rest.length;
  for (const stop of ['/', '?', '#']) {
    const at = rest.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  const authority = rest.slice(0, end);
  if (authority.includes('@')) throw badTarget(`user info in ${shown(uri)} is not accepted`);
  if (authority.length === 0) throw badTarget(`no host in ${shown(uri)}`);
  const target = parseAuthority(authority, 80);
  let originForm = rest.slice(end);
  const hash = originForm.indexOf('#');
  if (hash >= 0) originForm = originForm.slice(0, hash);
  if (!originForm.startsWith('/')) originForm = `/${originForm}`;
  return { target, originForm };
}
