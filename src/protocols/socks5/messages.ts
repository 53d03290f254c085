import type { BoundAddress } from '../../fd/server-fd.js';
import { endpointLength, type Socks5Endpoint, toEndpoint, writeEndpoint } from './address.js';
import {
  commandCode,
  SOCKS5_VERSION,
  type Socks5CommandName,
  type Socks5ReplyCode,
  USERPASS_VERSION,
} from './constants.js';
import { Socks5Error } from './errors.js';

/** Message shapes and their encoders; the decoders are FrameSpecs in parsers.ts. */

export interface Socks5Greeting {
  /** The METHODS the client offers, in its order. */
  readonly methods: readonly number[];
}

export interface Socks5MethodSelection {
  readonly method: number;
}

/** RFC 1929 credentials, as raw bytes: the RFC fixes no character set. */
export interface Socks5Credentials {
  readonly username: Buffer;
  readonly password: Buffer;
}

export interface Socks5AuthStatus {
  readonly status: number;
}

export interface Socks5Request extends Socks5Endpoint {
  readonly command: Socks5CommandName;
}

export interface Socks5ReplyMessage extends Socks5Endpoint {
  /** REP: 0 on success. Decoders accept unassigned codes too (a client must see them). */
  readonly code: number;
}

export function encodeGreeting(methods: readonly number[]): Buffer {
  if (methods.length < 1 || methods.length > 255) {
    throw bad(`a greeting offers 1-255 methods, not ${methods.length}`);
  }
  const out = Buffer.allocUnsafe(2 + methods.length);
  out[0] = SOCKS5_VERSION;
  out[1] = methods.length;
  for (let i = 0; i < methods.length; i++) out[2 + i] = byte(methods[i] as number, 'method');
  return out;
}

export function encodeMethodSelection(method: number): Buffer {
  return Buffer.from([SOCKS5_VERSION, byte(method, 'method')]);
}

export function encodeAuthRequest(
  username: string | Uint8Array,
  password: string | Uint8Array,
): Buffer {
  const user = typeof username === 'string' ? Buffer.from(username, 'utf8') : username;
  const pass = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (user.length > 255) throw bad(`username is ${user.length} bytes, at most 255`);
  if (pass.length > 255) throw bad(`password is ${pass.length} bytes, at most 255`);
  const out = Buffer.allocUnsafe(3 + user.length + pass.length);
  out[0] = USERPASS_VERSION;
  out[1] = user.length;
  out.set(user, 2);
  out[2 + user.length] = pass.length;
  out.set(pass, 3 + user.length);
  return out;
}

export function encodeAuthStatus(status: number): Buffer {
  return Buffer.from([USERPASS_VERSION, byte(status, 'status')]);
}

export function encodeRequest(command: Socks5CommandName, target: Socks5Endpoint): Buffer {
  return encodeAddressed(commandCode(command), target);
}

/**
 * A reply. `bind` defaults to 0.0.0.0:0 (the RFC leaves it meaningless on
 * failure, and a CONNECT client rarely uses it on success).
 */
export function encodeReply(
  code: Socks5ReplyCode | number,
  bind?: BoundAddress | Socks5Endpoint,
): Buffer {
  const endpoint =
    bind === undefined
      ? toEndpoint('0.0.0.0', 0)
      : 'addressType' in bind
        ? bind
        : toEndpoint(bind.host, bind.port);
  return encodeAddressed(byte(code, 'reply code'), endpoint);
}

/** `05 <x> 00 <address block>`: requests and replies share this layout. */
function encodeAddressed(second: number, endpoint: Socks5Endpoint): Buffer {
  const out = Buffer.allocUnsafe(3 + endpointLength(endpoint));
  out[0] = SOCKS5_VERSION;
  out[1] = second;
  out[2] = 0x00;
  writeEndpoint(endpoint, out, 3);
  return out;
}

function byte(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 255)
    throw bad(`${what} ${value} is not a byte`);
  return value;
}

function bad(message: string): Socks5Error {
  return new Socks5Error('ERR_SOCKS5_VALUE_INVALID', 'encode', message);
}
