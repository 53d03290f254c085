import { deadline } from '../../fd/deadline.js';
import { VproxyError } from '../../fd/errors.js';
import type { StreamFD } from '../../fd/stream-fd.js';
import { readFrame } from '../read-frame.js';
import { type Socks5Endpoint, toEndpoint } from './address.js';
import {
  AUTH_SUCCESS,
  hex,
  isReplyCode,
  replyText,
  type Socks5CommandName,
  Socks5Method,
  Socks5Reply,
} from './constants.js';
import { Socks5Error } from './errors.js';
import {
  encodeAuthRequest,
  encodeGreeting,
  encodeRequest,
  type Socks5ReplyMessage,
} from './messages.js';
import { authStatusSpec, methodSelectionSpec, replySpec } from './parsers.js';

export interface Socks5ClientOptions {
  /** Where the server should connect (an IP literal goes as IPv4/IPv6, a name as a domain). */
  readonly target: Socks5Endpoint | { readonly host: string; readonly port: number };
  /** Default `connect`. */
  readonly command?: Socks5CommandName;
  /** Offer username/password (RFC 1929) instead of no-auth. */
  readonly auth?: { readonly username: string; readonly password: string };
  /**
   * Send every message in one write instead of waiting for each answer
   * (saves round trips; what the WebSocks agent does in non-strict mode).
   */
  readonly pipeline?: boolean;
  /** Give up (ERR_HANDSHAKE_TIMEOUT) after this long (default 10 s, 0 = never). */
  readonly timeoutMs?: number;
}

/**
 * The client side of a socks5 handshake over any stream. Resolves with the
 * server's success reply (BND.ADDR / BND.PORT); bytes the server sent after it
 * (a target that speaks first) stay in the stream. On failure the stream is
 * destroyed and the promise rejects with a Socks5Error (a failure reply gives
 * ERR_SOCKS5_REQUEST_FAILED with its `replyCode`).
 */
export async function socks5Connect(
  fd: StreamFD,
  options: Socks5ClientOptions,
): Promise<Socks5ReplyMessage> {
  const target =
    'addressType' in options.target
      ? options.target
      : toEndpoint(options.target.host, options.target.port);
  const method = options.auth ? Socks5Method.USERNAME_PASSWORD : Socks5Method.NO_AUTH;
  // Encode everything first: a bad target fails before a byte is sent.
  const greeting = encodeGreeting([method]);
  const credentials = options.auth
    ? encodeAuthRequest(options.auth.username, options.auth.password)
    : null;
  const request = encodeRequest(options.command ?? 'connect', target);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const limit = deadline(
    timeoutMs,
    () =>
      new VproxyError('ERR_HANDSHAKE_TIMEOUT', `socks5 handshake not done after ${timeoutMs} ms`),
  );
  const guard = () => {};
  fd.on('error', guard);
  try {
    if (options.pipeline) {
      fd.write(Buffer.concat(credentials ? [greeting, credentials, request] : [greeting, request]));
    } else {
      fd.write(greeting);
    }
    const selection = await readFrame(fd, methodSelectionSpec, limit.signal);
    if (selection.method !== method) {
      throw new Socks5Error(
        'ERR_SOCKS5_NO_ACCEPTABLE_METHOD',
        'greeting',
        `server chose method ${hex(selection.method)}, we offered ${hex(method)}`,
      );
    }
    if (credentials) {
      if (!options.pipeline) fd.write(credentials);
      const status = await readFrame(fd, authStatusSpec, limit.signal);
      if (status.status !== AUTH_SUCCESS) {
        throw new Socks5Error(
          'ERR_SOCKS5_AUTH_FAILED',
          'auth',
          `server rejected the credentials (status 0x${hex(status.status)})`,
        );
      }
    }
    if (!options.pipeline) fd.write(request);
    const reply = await readFrame(fd, replySpec, limit.signal);
    if (reply.code !== Socks5Reply.SUCCEEDED) {
      throw new Socks5Error(
        'ERR_SOCKS5_REQUEST_FAILED',
        'reply',
        `server answered 0x${hex(reply.code)} (${replyText(reply.code)})`,
        isReplyCode(reply.code) ? { replyCode: reply.code, bytes: null } : {},
      );
    }
    fd.off('error', guard); // the caller owns the stream from here
    return reply;
  } catch (err) {
    fd.destroy();
    throw err;
  } finally {
    limit.cancel();
  }
}
