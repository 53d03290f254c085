import type { Address } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import type { OptionSchema } from '../../src/fd/layer-options.js';
import { intOption, stringOption } from '../../src/fd/options.js';
import type { OptionSpec } from '../../src/fd/transport.js';

/** The subprotocol our clients offer for raw mode; our listeners always treat it as raw. */
export const RAW_SUBPROTOCOL = 'vproxy-raw';

/**
 * How long a close handshake may take before the inner stream is cut (ws's
 * default is 30 s; a peer that does not answer a close frame is gone anyway).
 */
export const CLOSE_TIMEOUT_MS = 5000;

export const WS_OPTIONS: readonly OptionSpec[] = [
  {
    // `ws.mode=` in a stack where another layer knows `mode` (kcp); `ws-mode` is its old name.
    name: 'mode',
    description:
      'client: framed (default; bytes travel in binary messages, passes strict gateways) or raw ' +
      '(after the upgrade, one 10-byte max-length frame header, then raw bytes)',
  },
  {
    name: 'mask',
    description:
      'client, framed: masking keys of our frames: random (default, RFC 6455) or zero (the XOR ' +
      'is skipped at both ends, several times faster; payload bytes then cross the wire as they ' +
      'are, as in raw mode)',
  },
  { name: 'host', description: 'client: Host header (default: the address host[:port])' },
  {
    name: 'headers',
    description: 'client: extra request headers, "Name:value" pairs separated by "|"',
  },
  {
    name: 'subprotocol',
    description: `client: Sec-WebSocket-Protocol to offer (default: none framed, ${RAW_SUBPROTOCOL} raw)`,
  },
  {
    name: 'raw-subprotocols',
    description: `listener: comma list of subprotocols that select raw mode besides ${RAW_SUBPROTOCOL} (e.g. socks5 for WebSocks)`,
  },
  {
    name: 'max-payload',
    description: 'largest message accepted in framed mode, bytes (default 1048576, min 65536)',
  },
  {
    name: 'ping-interval',
    description: 'framed: send a ping every this many ms, 0 = never (default 30000)',
  },
  {
    name: 'pong-timeout',
    description:
      'framed: fail the stream (ERR_WS_PEER_DEAD) when nothing at all was heard from the peer ' +
      'for this many ms while we were reading, 0 = never (default 3 x ping-interval)',
  },
];

export type WsMode = 'framed' | 'raw';

/** Framed-mode settings shared by both ends. */
export interface FramedSettings {
  readonly maxPayload: number;
  readonly pingIntervalMs: number;
  readonly pongTimeoutMs: number;
}

export interface ClientSettings extends FramedSettings {
  readonly mode: WsMode;
  readonly path: string;
  readonly hostHeader: string;
  readonly headers: Readonly<Record<string, string>>;
  /** What we offer in Sec-WebSocket-Protocol; empty for none. */
  readonly subprotocol: string;
  /** All-zero masking keys: ws then skips masking and unmasking. */
  readonly zeroMask: boolean;
}

export interface ServerSettings extends FramedSettings {
  /** '' accepts any path; otherwise only this one (others get 404). */
  readonly path: string;
  /** Subprotocols whose selection switches a connection to raw mode. */
  readonly rawSubprotocols: ReadonlySet<string>;
}

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const DEFAULT_PING_INTERVAL_MS = 30_000;
const MAX_MS = 86_400_000;
// RFC 7230 token: what a header name or a subprotocol may be made of.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, space and tab (no CR/LF: no header injection).
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

function invalid(address: Address, name: string, expected: string): never {
  throw new VproxyError(
    'ERR_OPTION_INVALID',
    `option "${name}=${address.options[name]}" of a ${address.scheme} address: expected ${expected}`,
  );
}

function framedSettings(address: Address): FramedSettings {
  const pingIntervalMs = intOption(address, 'ping-interval', DEFAULT_PING_INTERVAL_MS, 0, MAX_MS);
  return {
    maxPayload: intOption(address, 'max-payload', DEFAULT_MAX_PAYLOAD, 65_536, 1 << 30),
    pingIntervalMs,
    pongTimeoutMs: intOption(address, 'pong-timeout', 3 * pingIntervalMs, 0, MAX_MS),
  };
}

/** `Name:value|Name:value` → header map; names must be tokens, values printable. */
export function parseHeaders(address: Address): Record<string, string> {
  const text = stringOption(address, 'headers');
  const headers: Record<string, string> = Object.create(null);
  if (text === undefined) return headers;
  for (const pair of text.split('|')) {
    const colon = pair.indexOf(':');
    const name = colon < 0 ? '' : pair.slice(0, colon).trim();
    const value = colon < 0 ? '' : pair.slice(colon + 1).trim();
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) {
      invalid(address, 'headers', '"Name:value" pairs separated by "|", printable ASCII');
    }
    headers[name] = value;
  }
  return headers;
}

function hostHeader(address: Address, kind: string): string {
  const given = stringOption(address, 'host');
  if (given !== undefined) {
    if (!FIELD_VALUE.test(given)) invalid(address, 'host', 'printable ASCII');
    return given;
  }
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  // The scheme's default port is left out, as browsers do: some gateways route on the bare name.
  const defaultPort = kind.split('+').includes('tls') ? 443 : 80;
  return address.port === defaultPort ? host : `${host}:${address.port}`;
}

/** Options that only mean something on one side; on the other they are most likely a mistake. */
const CLIENT_ONLY = ['mode', 'ws-mode', 'mask', 'host', 'headers', 'subprotocol'];
const LISTENER_ONLY = ['raw-subprotocols'];

function rejectOptions(address: Address, names: readonly string[], side: string): void {
  for (const name of names) {
    if (address.options[name] !== undefined) {
      throw new VproxyError(
        'ERR_OPTION_INVALID',
        `option "${name}" of a ${address.scheme} address applies to ${side} only`,
      );
    }
  }
}

export function clientSettings(address: Address, kind: string): ClientSettings {
  rejectOptions(address, LISTENER_ONLY, 'listeners');
  // Called straight (not through a registry) with an old address, the old name still works.
  const modeName = address.options.mode === undefined ? 'ws-mode' : 'mode';
  const modeText = address.options[modeName] ?? 'framed';
  if (modeText !== 'framed' && modeText !== 'raw') invalid(address, modeName, 'framed or raw');
  const subprotocol =
    stringOption(address, 'subprotocol') ?? (modeText === 'raw' ? RAW_SUBPROTOCOL : '');
  if (subprotocol !== '' && !TOKEN.test(subprotocol)) {
    invalid(address, 'subprotocol', "an HTTP token (letters, digits, !#$%&'*+.^_`|~-)");
  }
  const mask = address.options.mask ?? 'random';
  if (mask !== 'random' && mask !== 'zero') invalid(address, 'mask', 'random or zero');
  return {
    ...framedSettings(address),
    mode: modeText,
    zeroMask: mask === 'zero',
    path: address.path === '' ? '/' : address.path,
    hostHeader: hostHeader(address, kind),
    headers: parseHeaders(address),
    subprotocol,
  };
}

export function serverSettings(address: Address): ServerSettings {
  rejectOptions(address, CLIENT_ONLY, 'clients');
  const raw = new Set([RAW_SUBPROTOCOL]);
  const list = stringOption(address, 'raw-subprotocols');
  for (const name of list === undefined ? [] : list.split(',')) {
    if (!TOKEN.test(name)) invalid(address, 'raw-subprotocols', 'a comma list of HTTP tokens');
    raw.add(name);
  }
  return { ...framedSettings(address), path: address.path, rawSubprotocols: raw };
}

/** One side's settings, or why that side cannot use the address (thrown when it tries). */
export type Sided<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: Error };

/** Both sides are parsed at once: an address is parsed before anyone knows which side uses it. */
export interface WsOptions {
  readonly client: Sided<ClientSettings>;
  readonly server: Sided<ServerSettings>;
}

function sided<T>(read: () => T): Sided<T> {
  try {
    return { ok: true, value: read() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

export function settingsOf<T>(side: Sided<T>): T {
  if (!side.ok) throw side.error;
  return side.value;
}

export const WS_SCHEMA: OptionSchema<WsOptions> = {
  prefix: 'ws',
  specs: WS_OPTIONS,
  renamed: { 'ws-mode': 'mode' },
  // kcp's `mode` came first: in `ws+kcp://…?mode=` a bare `mode` is still kcp's (deprecated).
  newNames: ['mode'],
  parse: (view, kind) => ({
    client: sided(() => clientSettings(view, kind)),
    server: sided(() => serverSettings(view)),
  }),
};
