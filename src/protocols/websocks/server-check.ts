import { HttpError } from '../http-proxy/errors.js';
import { headerValues, singleHeader } from '../http-proxy/head-fields.js';
import type { RequestHead } from '../http-proxy/request-head.js';
import { SUBPROTOCOL, WS_VERSION } from './constants.js';
import { type WebsocksCheck, WebsocksError } from './errors.js';
import { verifyAuthorization, verifyTicket, type WebsocksUsers } from './password-hash.js';
import type { ReplayCache } from './replay-cache.js';

export interface UpgradeCheckOptions {
  readonly users: WebsocksUsers;
  /** The server's clock, injected. */
  readonly nowMs: number;
  /** Refuse headers already used (see ReplayCache for the budget). */
  readonly replay?: ReplayCache;
  /** Only this path is the tunnel (a secret prefix); absent: any path, as the reference. */
  readonly path?: string;
}

/** An upgrade request that passed every check. */
export interface AcceptedUpgrade {
  readonly user: string;
  /** The salt minute the password hash matched. */
  readonly minute: number;
  /** Sec-WebSocket-Key, for the 101's Sec-WebSocket-Accept. */
  readonly key: string;
}

function refuse(check: WebsocksCheck, status: number, message: string): WebsocksError {
  return new WebsocksError('ERR_WEBSOCKS_REQUEST_INVALID', check, status, message);
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function replayed(verdict: 'replayed' | 'full'): WebsocksError {
  return new WebsocksError(
    'ERR_WEBSOCKS_REPLAYED',
    'replay',
    401,
    verdict === 'full'
      ? 'replay cache is full'
      : 'this Authorization header or ticket was already used',
  );
}

/**
 * §3.3's "no Upgrade header" row: such a request is a web request (the app
 * serves its web root, or falls through to the checks when it has none).
 */
export function isUpgradeAttempt(head: RequestHead): boolean {
  return head.headers.some((f) => f.key === 'upgrade');
}

/** One header that must appear exactly once; a duplicate is as bad as a missing one. */
function one(head: RequestHead, key: string, label: string): string {
  let value: string | undefined;
  try {
    value = singleHeader(head.headers, key);
  } catch (err) {
    if (err instanceof HttpError) throw refuse('upgrade', 400, `${label} appears more than once`);
    throw err;
  }
  if (value === undefined) throw refuse('upgrade', 400, `no ${label} header`);
  return value;
}

/**
 * The server's checks of §3.3, in its order: GET; the upgrade headers
 * (`Upgrade: websocket` exactly, `Connection` equal to `Upgrade` ignoring case —
 * a list is refused, as the reference does — a base64 Sec-WebSocket-Key of 16
 * bytes, version 13, no body); no bytes pipelined after the head; the path when
 * one is configured; the time-salted Authorization (401); a
 * Sec-WebSocket-Protocol header whose whole value is `socks5`; and last, the
 * replay cache, which records the header only once everything else passed.
 *
 * `leftover` is how many bytes followed the head in the server's buffer.
 * Returns who connected; throws a WebsocksError whose `status` is the
 * reference's answer and whose `check` names the failed step.
 */
export function checkUpgradeRequest(
  head: RequestHead,
  leftover: number,
  options: UpgradeCheckOptions,
): AcceptedUpgrade {
  if (head.method !== 'GET') throw refuse('method', 400, `method ${head.method} is not GET`);
  if (one(head, 'upgrade', 'Upgrade') !== 'websocket') {
    throw refuse('upgrade', 400, 'Upgrade is not exactly "websocket"');
  }
  if (one(head, 'connection', 'Connection').toLowerCase() !== 'upgrade') {
    throw refuse('upgrade', 400, 'Connection is not "Upgrade"');
  }
  const key = one(head, 'sec-websocket-key', 'Sec-WebSocket-Key');
  if (!BASE64.test(key) || key.length % 4 !== 0 || Buffer.from(key, 'base64').length !== 16) {
    throw refuse('upgrade', 400, 'Sec-WebSocket-Key is not base64 of 16 bytes');
  }
  if (one(head, 'sec-websocket-version', 'Sec-WebSocket-Version') !== WS_VERSION) {
    throw refuse('upgrade', 400, `Sec-WebSocket-Version is not ${WS_VERSION}`);
  }
  if (head.headers.some((f) => f.key === 'content-length' || f.key === 'transfer-encoding')) {
    throw refuse('upgrade', 400, 'an upgrade request must not have a body');
  }
  if (leftover > 0) throw refuse('pipelined', 400, `${leftover} bytes were sent before the 101`);
  if (options.path !== undefined) {
    const q = head.target.indexOf('?');
    const path = q < 0 ? head.target : head.target.slice(0, q);
    if (path !== options.path) throw refuse('path', 404, 'not the tunnel path');
  }
  const authorization = headerValues(head.headers, 'authorization');
  if (authorization.length > 1) throw refuse('auth', 401, 'more than one Authorization header');
  const { user, minute } = verifyAuthorization(authorization[0], options.users, options.nowMs);
  if (!headerValues(head.headers, 'sec-websocket-protocol').includes(SUBPROTOCOL)) {
    throw refuse('protocol', 400, `no Sec-WebSocket-Protocol: ${SUBPROTOCOL}`);
  }
  // The replay key is what the header proves (user and minute), not its text:
  // a captured header decoded and re-encoded with a space, or sent with
  // another spacing after "Basic", verifies alike and must share its budget.
  const replayKey = `basic ${minute} ${user}`;
  const tickets = headerValues(head.headers, 'websocks-ticket');
  if (tickets.length > 1) throw refuse('auth', 401, 'more than one Websocks-Ticket header');
  const replay = options.replay;
  if (tickets.length === 1) {
    // Our agents: the nonce is spent once; the Authorization header is then spent
    // too, so the same header cannot come back without a ticket.
    const nonce = verifyTicket(tickets[0] as string, options.users, user, minute);
    if (replay) {
      const verdict = replay.check(`ticket ${nonce}`, options.nowMs);
      if (verdict !== 'fresh') throw replayed(verdict);
      replay.spend(`ticket ${nonce}`, minute, options.nowMs);
      replay.spend(replayKey, minute, options.nowMs);
    }
    return { user, minute, key };
  }
  if (replay) {
    const verdict = replay.check(replayKey, options.nowMs);
    if (verdict !== 'fresh') throw replayed(verdict);
    replay.commit(replayKey, minute, options.nowMs);
  }
  return { user, minute, key };
}
