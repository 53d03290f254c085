import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { VproxyError } from '../../fd/errors.js';
import { WebsocksError } from './errors.js';

/**
 * The time-salted password hash of spec §3.2, bit for bit:
 *
 *   minute = floor(now_ms / 60000) * 60000
 *   inner  = base64(sha256(utf8(password)))
 *   hashed = base64(sha256(utf8(inner + decimal(minute))))
 *   header = "Basic " + base64(user + ":" + hashed)
 *
 * It limits replay to a three-minute window; it hides nothing from someone
 * who can read the request (TLS is for that).
 */
export const MINUTE_MS = 60_000;

/** The salt minute, a millisecond value (e.g. 1576753680000). */
export function minuteOf(nowMs: number): number {
  return Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
}

function sha256Base64(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('base64');
}

export function innerHash(password: string): string {
  return sha256Base64(password);
}

/** `hashed` for a password's inner hash and a salt minute. */
export function saltedHash(inner: string, minute: number): string {
  // String(minute): integral ms values stay below 2^53, so this is Java's Long.toString.
  return sha256Base64(inner + String(minute));
}

export function hashPassword(password: string, minute: number): string {
  return saltedHash(innerHash(password), minute);
}

/** The Authorization header value an agent sends at `nowMs`. */
export function authorizationValue(user: string, password: string, nowMs: number): string {
  const hashed = hashPassword(password.trim(), minuteOf(nowMs));
  return `Basic ${Buffer.from(`${user.trim()}:${hashed}`, 'utf8').toString('base64')}`;
}

/**
 * The users a server accepts, with each password's inner hash computed once.
 * Names and passwords are trimmed, as the reference does; neither may contain
 * ':' (the decoded header must split into exactly two parts) or be empty.
 */
export class WebsocksUsers {
  readonly #inner = new Map<string, string>();

  constructor(entries: Iterable<readonly [string, string]>) {
    for (const [rawUser, rawPassword] of entries) {
      const user = rawUser.trim();
      const password = rawPassword.trim();
      if (user.length === 0 || password.length === 0) {
        throw new VproxyError(
          'ERR_OPTION_INVALID',
          'websocks users need a non-empty name and password',
        );
      }
      if (user.includes(':') || password.includes(':')) {
        throw new VproxyError(
          'ERR_OPTION_INVALID',
          `websocks user ${JSON.stringify(user)}: ':' is not allowed in a name or password`,
        );
      }
      this.#inner.set(user, innerHash(password));
    }
  }

  /** `u1:p1,u2:p2` (the server's `auth` argument). */
  static parse(list: string): WebsocksUsers {
    const pairs: [string, string][] = [];
    for (const item of list.split(',')) {
      const parts = item.split(':');
      if (parts.length !== 2) {
        throw new VproxyError(
          'ERR_OPTION_INVALID',
          `bad user entry ${JSON.stringify(item)}: want user:pass`,
        );
      }
      pairs.push([parts[0] as string, parts[1] as string]);
    }
    return new WebsocksUsers(pairs);
  }

  get size(): number {
    return this.#inner.size;
  }

  has(user: string): boolean {
    return this.#inner.has(user);
  }

  /** The inner hash of a user's password; undefined for an unknown user. */
  innerOf(user: string): string | undefined {
    return this.#inner.get(user);
  }
}

/** A verified Authorization header: who, and the salt minute that matched. */
export interface VerifiedAuthorization {
  readonly user: string;
  readonly minute: number;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
// An inner hash for unknown users, so they cost the same time as known ones.
const DECOY_INNER = innerHash('decoy');

function refuse(why: string): WebsocksError {
  return new WebsocksError('ERR_WEBSOCKS_AUTH_FAILED', 'auth', 401, why);
}

/**
 * Check an Authorization header value at `nowMs` against the minute of now and
 * the minutes either side (clocks a minute apart still agree). Returns the
 * user and matched minute; throws a 401 WebsocksError naming the reason.
 */
export function verifyAuthorization(
  value: string | undefined,
  users: WebsocksUsers,
  nowMs: number,
): VerifiedAuthorization {
  if (value === undefined) throw refuse('no Authorization header');
  if (!value.startsWith('Basic ')) throw refuse('Authorization is not Basic');
  const token = value.slice(6).trim();
  if (!BASE64.test(token) || token.length % 4 !== 0) throw refuse('Basic value is not base64');
  const parts = Buffer.from(token, 'base64').toString('utf8').split(':');
  if (parts.length !== 2) throw refuse("decoded credentials do not split into user ':' hash");
  const user = (parts[0] as string).trim();
  const presented = Buffer.from((parts[1] as string).trim(), 'utf8');
  const known = users.innerOf(user);
  const inner = known ?? DECOY_INNER;
  const now = minuteOf(nowMs);
  let matched: number | undefined;
  for (const minute of [now, now - MINUTE_MS, now + MINUTE_MS]) {
    const expected = Buffer.from(saltedHash(inner, minute), 'utf8');
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) {
      matched ??= minute;
    }
  }
  if (known === undefined) throw refuse(`unknown user ${JSON.stringify(user.slice(0, 40))}`);
  if (matched === undefined) throw refuse(`wrong password or clock off by more than a minute`);
  return { user, minute: matched };
}

/**
 * Our extension for single-use tunnels (reference servers ignore the header):
 * `Websocks-Ticket: NONCE.MAC`, a random nonce per connection and
 * HMAC-SHA256(inner hash of the password, `user|minute|nonce`). A server that
 * knows it spends the nonce once instead of a use of the Authorization
 * header's budget, so a busy agent is not capped at the budget per minute and
 * a captured request cannot be replayed at all.
 */
export const TICKET_HEADER = 'Websocks-Ticket';

function ticketMac(inner: string, user: string, minute: number, nonce: string): Buffer {
  return createHmac('sha256', inner).update(`${user}|${minute}|${nonce}`).digest();
}

/** The ticket an agent sends with the Authorization of `nowMs` (a fresh nonce unless given). */
export function ticketValue(
  user: string,
  password: string,
  nowMs: number,
  nonce: string = randomBytes(16).toString('base64url'),
): string {
  const mac = ticketMac(innerHash(password.trim()), user.trim(), minuteOf(nowMs), nonce);
  return `${nonce}.${mac.toString('base64url')}`;
}

const TICKET = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/**
 * The nonce of a valid ticket for `user` at the minute their Authorization
 * matched; a 401 WebsocksError for a malformed or forged one.
 */
export function verifyTicket(
  value: string,
  users: WebsocksUsers,
  user: string,
  minute: number,
): string {
  const m = TICKET.exec(value.trim());
  const inner = users.innerOf(user);
  if (m === null || inner === undefined) throw refuse('malformed Websocks-Ticket');
  const nonce = m[1] as string;
  // Compare the text, not the decoded bytes: the MAC's last base64url
  // character carries two unused bits, so four spellings decode alike, and a
  // ticket must have exactly one accepted form (the one agents send).
  const expected = Buffer.from(
    ticketMac(inner, user, minute, nonce).toString('base64url'),
    'latin1',
  );
  const presented = Buffer.from(m[2] as string, 'latin1');
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
    throw refuse('Websocks-Ticket does not match');
  }
  return nonce;
}
