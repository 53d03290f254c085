import { Socks5Reply, type Socks5ReplyCode } from './constants.js';
import { Socks5Error } from './errors.js';

const BY_ERRNO: Readonly<Record<string, Socks5ReplyCode>> = {
  ECONNREFUSED: Socks5Reply.CONNECTION_REFUSED,
  ERR_CONNECT_REFUSED: Socks5Reply.CONNECTION_REFUSED,
  ERR_HOST_UNREACHABLE: Socks5Reply.HOST_UNREACHABLE,
  ERR_HOST_NOT_FOUND: Socks5Reply.HOST_UNREACHABLE,
  ERR_PERMISSION_DENIED: Socks5Reply.NOT_ALLOWED,
  ENETUNREACH: Socks5Reply.NETWORK_UNREACHABLE,
  ENETDOWN: Socks5Reply.NETWORK_UNREACHABLE,
  EHOSTUNREACH: Socks5Reply.HOST_UNREACHABLE,
  EHOSTDOWN: Socks5Reply.HOST_UNREACHABLE,
  // Name resolution failures: the host cannot be reached by this server.
  ENOTFOUND: Socks5Reply.HOST_UNREACHABLE,
  EAI_NONAME: Socks5Reply.HOST_UNREACHABLE,
  EAI_AGAIN: Socks5Reply.HOST_UNREACHABLE,
  EAI_FAIL: Socks5Reply.HOST_UNREACHABLE,
  // Timeouts: "TTL expired" is what socks clients (curl among them) print for these.
  ETIMEDOUT: Socks5Reply.TTL_EXPIRED,
  ERR_CONNECT_TIMEOUT: Socks5Reply.TTL_EXPIRED,
  EACCES: Socks5Reply.NOT_ALLOWED,
  EPERM: Socks5Reply.NOT_ALLOWED,
};

/**
 * The REP code that tells a client why connecting to its target failed,
 * from the error a connect produced (Node errno codes, VproxyError codes, the
 * reply of a SOCKS5 server further on, looked up through `cause` chains).
 * Anything unknown is a general failure.
 */
export function replyCodeForError(err: unknown): Socks5ReplyCode {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    // A SOCKS5 server further on (a websocks server, a chained proxy) said why: pass its
    // answer on rather than a general failure.
    if (
      current instanceof Socks5Error &&
      current.code === 'ERR_SOCKS5_REQUEST_FAILED' &&
      current.replyCode !== undefined
    ) {
      return current.replyCode;
    }
    const code = (current as Error & { code?: unknown }).code;
    if (typeof code === 'string') {
      const rep = BY_ERRNO[code];
      if (rep !== undefined) return rep;
    }
    current = current.cause;
  }
  return Socks5Reply.GENERAL_FAILURE;
}
