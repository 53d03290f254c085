import { isIPv6 } from 'node:net';
import { isToken } from '../http-proxy/head-fields.js';
import { SAMPLE_KEY, SUBPROTOCOL, WS_VERSION } from './constants.js';
import { WebsocksError } from './errors.js';
import { authorizationValue, TICKET_HEADER, ticketValue } from './password-hash.js';

export interface UpgradeRequestOptions {
  /** The server as configured: a name or an IP literal (IPv6 with or without brackets). */
  readonly host: string;
  readonly port: number;
  /** websockss (TLS): decides which port is the default one the Host header may omit. */
  readonly tls: boolean;
  readonly user: string;
  readonly password: string;
  /** The agent's clock, injected: the hash is salted with its minute. */
  readonly nowMs: number;
  /** Request path (CDN mode: a secret path the gateway routes on). Default `/`. */
  readonly path?: string;
  /** CDN mode: the Host header when it differs from the dialled host. */
  readonly hostHeader?: string;
  /** Sec-WebSocket-Key; default the RFC sample nonce every reference agent sends. */
  readonly key?: string;
  /**
   * Send a single-use Websocks-Ticket (our extension; reference servers ignore
   * it). Default false: the bytes are exactly the reference agent's.
   */
  readonly ticket?: boolean;
  /** CDN mode: more headers, sent after the standard ones, in order. */
  readonly extraHeaders?: readonly (readonly [string, string])[];
}

// Headers the handshake itself owns; an extra header may not override them.
const OWN = new Set([
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'authorization',
  'websocks-ticket',
  'content-length',
  'transfer-encoding',
]);
const PATH = /^\/[\x21-\x7e]*$/;
const VALUE = /^[\x20-\x7e\x80-\xff]*$/;

function bad(message: string): WebsocksError {
  return new WebsocksError('ERR_WEBSOCKS_REQUEST_INVALID', 'request', null, message);
}

/**
 * The Host header for a server: `name[:port]` or `ip[:port]` (IPv6 in
 * brackets), the port left out when it is the scheme's default. The reference
 * wrote the text `null` when the server was configured by IP; a gateway that
 * routes on Host needs the real address.
 */
export function hostHeaderFor(host: string, port: number, tls: boolean): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const shown = isIPv6(bare) ? `[${bare}]` : bare;
  return port === (tls ? 443 : 80) ? shown : `${shown}:${port}`;
}

/**
 * The agent's upgrade request (§3.1), byte for byte what the reference sends
 * for the defaults: `GET / HTTP/1.1`, Upgrade, Connection, Host,
 * Sec-WebSocket-Key/Version/Protocol, Authorization, blank line — no body,
 * and nothing may be written after it until the 101 arrives.
 */
export function buildUpgradeRequest(options: UpgradeRequestOptions): Buffer {
  const path = options.path ?? '/';
  if (!PATH.test(path))
    throw bad(`path ${JSON.stringify(path)} must start with '/' and be visible ASCII`);
  if (options.user.includes(':') || options.user.trim().length === 0) {
    throw bad("the user name must be non-empty and contain no ':'");
  }
  const host = options.hostHeader ?? hostHeaderFor(options.host, options.port, options.tls);
  const lines = [
    `GET ${path} HTTP/1.1`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Host: ${host}`,
    `Sec-WebSocket-Key: ${options.key ?? SAMPLE_KEY}`,
    `Sec-WebSocket-Version: ${WS_VERSION}`,
    `Sec-WebSocket-Protocol: ${SUBPROTOCOL}`,
    `Authorization: ${authorizationValue(options.user, options.password, options.nowMs)}`,
  ];
  if (options.ticket === true) {
    lines.push(`${TICKET_HEADER}: ${ticketValue(options.user, options.password, options.nowMs)}`);
  }
  for (const [name, value] of options.extraHeaders ?? []) {
    if (!isToken(name)) throw bad(`bad header name ${JSON.stringify(name)}`);
    if (OWN.has(name.toLowerCase())) throw bad(`header ${name} is set by the handshake itself`);
    if (!VALUE.test(value)) throw bad(`header ${name} has a control character in its value`);
    lines.push(`${name}: ${value}`);
  }
  for (const line of lines.slice(1, 5)) {
    if (!VALUE.test(line)) throw bad(`control character in ${JSON.stringify(line.slice(0, 40))}`);
  }
  lines.push('', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}
