import { createHash } from 'node:crypto';
import { headerTokens, headerValues } from '../http-proxy/head-fields.js';
import type { ResponseHead } from '../http-proxy/response-head.js';
import { SAMPLE_KEY, SUBPROTOCOL, WS_GUID } from './constants.js';
import { WebsocksError } from './errors.js';

/** base64(sha1(key + GUID)), RFC 6455 §4.2.2. */
export function computeAccept(key: string): string {
  return createHash('sha1')
    .update(key + WS_GUID, 'latin1')
    .digest('base64');
}

export interface SwitchingProtocolsOptions {
  /** The client's Sec-WebSocket-Key. */
  readonly key: string;
  /** `Server:` value; null leaves the header out (the default: no telltale). */
  readonly server?: string | null;
  /** `Date:` value, already formatted (the module has no clock); null leaves it out. */
  readonly date?: string | null;
}

/**
 * The server's 101 (§3.4), in the reference's header order and spelling
 * (`Sec-Websocket-Accept` included: clients compare header names ignoring case).
 */
export function buildSwitchingProtocols(options: SwitchingProtocolsOptions): Buffer {
  const lines = ['HTTP/1.1 101 Switching Protocols'];
  if (options.server != null) lines.push(`Server: ${options.server}`);
  if (options.date != null) lines.push(`Date: ${options.date}`);
  lines.push(
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-Websocket-Accept: ${computeAccept(options.key)}`,
    `Sec-WebSocket-Protocol: ${SUBPROTOCOL}`,
    '',
    '',
  );
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function refuse(status: number | null, message: string): WebsocksError {
  return new WebsocksError('ERR_WEBSOCKS_RESPONSE_INVALID', 'response', status, message);
}

/**
 * The agent's check of the server's answer (§3.4): status 101, `Upgrade:
 * websocket`, a Connection list holding `upgrade`, the right
 * Sec-WebSocket-Accept, no Content-Length. Values are compared ignoring case
 * where RFC 6455 says so, since a gateway such as nginx may rewrite
 * `Connection: Upgrade` to `upgrade`. The protocol header is not checked (the
 * reference does not either). A non-101 answer keeps its status on the error,
 * so 401 reads as "credentials refused" in the logs.
 */
export function checkSwitchingProtocols(head: ResponseHead, key: string = SAMPLE_KEY): void {
  if (head.status !== 101) {
    const why = head.status === 401 ? 'the server refused the credentials' : 'no upgrade';
    throw refuse(head.status, `${why}: ${head.status} ${head.reason}`.trimEnd());
  }
  const upgrade = headerValues(head.headers, 'upgrade');
  if (upgrade.length !== 1 || (upgrade[0] as string).toLowerCase() !== 'websocket') {
    throw refuse(101, 'Upgrade is not "websocket"');
  }
  if (!headerTokens(head.headers, 'connection').includes('upgrade')) {
    throw refuse(101, 'Connection does not say "Upgrade"');
  }
  const accept = headerValues(head.headers, 'sec-websocket-accept');
  if (accept.length !== 1 || accept[0] !== computeAccept(key)) {
    throw refuse(101, 'Sec-WebSocket-Accept does not match the key');
  }
  if (head.headers.some((f) => f.key === 'content-length')) {
    throw refuse(101, 'a 101 must not have a Content-Length');
  }
}
