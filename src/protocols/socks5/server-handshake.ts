import { deadline } from '../../fd/deadline.js';
import { VproxyError } from '../../fd/errors.js';
import type { BoundAddress } from '../../fd/server-fd.js';
import { describePeer, type StreamFD } from '../../fd/stream-fd.js';
import { closeGracefully } from '../close-gracefully.js';
import { readFrame } from '../read-frame.js';
import type { Socks5Endpoint } from './address.js';
import { credentialChecker, type Socks5Auth } from './auth.js';
import {
  AUTH_SUCCESS,
  hex,
  isReplyCode,
  type Socks5CommandName,
  Socks5Method,
  Socks5Reply,
  type Socks5ReplyCode,
} from './constants.js';
import { authFailureResponse, noAcceptableMethodResponse, Socks5Error } from './errors.js';
import {
  encodeAuthStatus,
  encodeMethodSelection,
  encodeReply,
  type Socks5Credentials,
  type Socks5Request,
} from './messages.js';
import { authRequestSpec, greetingSpec, requestSpec } from './parsers.js';

export interface Socks5HandshakeOptions {
  /** Default `none`. */
  readonly auth?: Socks5Auth;
  /** The client must have sent its whole request within this time (default 10 s, 0 = no limit). */
  readonly handshakeTimeoutMs?: number;
  /** Commands served; others get reply 0x07 (default: CONNECT only). */
  readonly commands?: readonly Socks5CommandName[];
  /** How long a failed client may take to close after our last word (default 1 s). */
  readonly lingerMs?: number;
  /**
   * Bytes a layer below still owes the client (the WebSocks server's 10-byte
   * frame), sent in the same write as our first answer.
   */
  readonly prefix?: Buffer | null;
  /**
   * When the client pipelined its whole request behind its greeting, hold the
   * method selection and send it with the reply: one segment instead of two.
   * Only for callers that answer through `reply()` (default false).
   */
  readonly coalesce?: boolean;
}

/** A client whose request has been read; the caller acts on it, then answers with `reply`. */
export interface Socks5Accepted {
  readonly client: StreamFD;
  readonly request: Socks5Request;
  /** The authenticated user (username/password method), undefined with no-auth. */
  readonly username: string | undefined;
  /**
   * Answer the request. A success reply leaves the stream open for the data
   * phase (from then on the caller owns it, error handling included); any
   * other code sends the reply and closes the connection. `bind` is BND.ADDR/
   * BND.PORT (default 0.0.0.0:0): the relay address for UDP ASSOCIATE, the
   * outgoing local address for CONNECT. BIND may be answered twice (listening
   * address, then peer); anything else once.
   */
  reply(code: Socks5ReplyCode, bind?: BoundAddress | Socks5Endpoint): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_LINGER_MS = 1_000;

/**
 * Run the server side of a socks5 handshake on an accepted stream of any
 * transport: method negotiation, optional RFC 1929 authentication, request.
 * Reads nothing past the request: bytes a client pipelined after it stay in
 * the stream for the data phase. On any failure the right answer (05 FF,
 * 01 01, or a reply code) is sent, the connection is closed, and the promise
 * rejects with a typed error (Socks5Error, or ERR_HANDSHAKE_TIMEOUT /
 * ERR_PREMATURE_CLOSE).
 */
export async function socks5Handshake(
  client: StreamFD,
  options: Socks5HandshakeOptions = {},
): Promise<Socks5Accepted> {
  const auth = options.auth ?? 'none';
  const timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
  const commands = new Set<Socks5CommandName>(options.commands ?? ['connect']);
  // Until a success reply hands the stream over, a reset must not crash the process.
  const guard = () => {};
  client.on('error', guard);
  const limit = deadline(
    timeoutMs,
    () =>
      new VproxyError(
        'ERR_HANDSHAKE_TIMEOUT',
        `socks5 handshake with ${describePeer(client)} not done after ${timeoutMs} ms`,
      ),
  );
  let owed: Buffer | null = options.prefix ?? null;
  try {
    const greeting = await readFrame(client, greetingSpec, limit.signal);
    const method = auth === 'none' ? Socks5Method.NO_AUTH : Socks5Method.USERNAME_PASSWORD;
    if (!greeting.methods.includes(method)) {
      throw new Socks5Error(
        'ERR_SOCKS5_NO_ACCEPTABLE_METHOD',
        'greeting',
        `client offers [${greeting.methods.map(hex).join(' ')}], server requires ${hex(method)}`,
        { bytes: noAcceptableMethodResponse() },
      );
    }
    // A client that pipelined its whole request behind the greeting is not waiting
    // for the method selection: it goes out with the reply, in one segment.
    const selection = encodeMethodSelection(method);
    if (options.coalesce === true && auth === 'none' && requestBuffered(client))
      owed = Buffer.concat([owed ?? EMPTY, selection]);
    else {
      client.write(concat(owed, selection));
      owed = null;
    }
    let username: string | undefined;
    if (auth !== 'none') {
      const credentials = await readFrame(client, authRequestSpec, limit.signal);
      const user = await untilAborted(checkCredentials(auth, credentials), limit.signal);
      if (user === null) {
        throw new Socks5Error(
          'ERR_SOCKS5_AUTH_FAILED',
          'auth',
          `bad credentials for user ${quote(credentials.username)}`,
          { bytes: authFailureResponse() },
        );
      }
      username = user;
      client.write(encodeAuthStatus(AUTH_SUCCESS));
    }
    const request = await readFrame(client, requestSpec, limit.signal);
    if (!commands.has(request.command)) {
      throw new Socks5Error(
        'ERR_SOCKS5_COMMAND_NOT_SUPPORTED',
        'request',
        `command ${request.command} is not enabled on this server`,
        { replyCode: Socks5Reply.COMMAND_NOT_SUPPORTED },
      );
    }
    limit.cancel();
    return accepted(client, request, username, guard, lingerMs, owed);
  } catch (err) {
    limit.cancel();
    const error = err instanceof Error ? err : new Error(`socks5 handshake: ${String(err)}`);
    // A FIN rather than a reset even for a silent close: unread input would
    // otherwise make the kernel answer with RST. Owed bytes go first (a client
    // that pipelined still reads the method selection before the reply code).
    const last = error instanceof Socks5Error ? error.response : null;
    closeGracefully(client, last === null ? null : concat(owed, last), lingerMs);
    throw error;
  }
}

const EMPTY = Buffer.alloc(0);

function concat(owed: Buffer | null, bytes: Uint8Array): Uint8Array {
  return owed === null ? bytes : Buffer.concat([owed, bytes]);
}

/**
 * Whether a whole request already waits in the stream's buffer (read and put
 * back: nothing is consumed). Paused mode only; a stream in flowing mode has
 * no buffer to look at and says no.
 */
function requestBuffered(client: StreamFD): boolean {
  if (client.readableLength === 0 || client.readableFlowing === true) return false;
  const rest: Buffer | null = client.read();
  if (rest === null) return false;
  client.unshift(rest);
  try {
    return (
      requestSpec.frameLength(rest, Math.min(rest.length, requestSpec.maxLength)) <= rest.length
    );
  } catch {
    return false; // a bad request: answered when it is read
  }
}

function accepted(
  client: StreamFD,
  request: Socks5Request,
  username: string | undefined,
  guard: () => void,
  lingerMs: number,
  owed: Buffer | null,
): Socks5Accepted {
  let pending = owed;
  let repliesLeft = request.command === 'bind' ? 2 : 1;
  return {
    client,
    request,
    username,
    reply(code, bind) {
      if (!isReplyCode(code)) {
        throw new Socks5Error(
          'ERR_SOCKS5_VALUE_INVALID',
          'reply',
          `0x${hex(code)} is not a REP code`,
        );
      }
      if (repliesLeft === 0) {
        throw new Socks5Error(
          'ERR_SOCKS5_ALREADY_ANSWERED',
          'reply',
          'the request was already answered',
        );
      }
      const bytes = concat(pending, encodeReply(code, bind));
      pending = null;
      if (code !== Socks5Reply.SUCCEEDED) {
        repliesLeft = 0;
        closeGracefully(client, bytes, lingerMs);
        return;
      }
      repliesLeft--;
      if (client.destroyed) return;
      client.write(bytes);
      if (repliesLeft === 0) client.off('error', guard);
    },
  };
}

/** A verify callback that throws counts as a refusal (the client still gets its 01 01). */
async function checkCredentials(
  auth: Exclude<Socks5Auth, 'none'>,
  credentials: Socks5Credentials,
): Promise<string | null> {
  try {
    return await credentialChecker(auth)(credentials);
  } catch {
    return null;
  }
}

/** Resolve with `work`, unless `signal` aborts first (then reject with its reason). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A client-supplied name, safe to put in a log line. */
function quote(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}
