import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { UTF8 } from './address.js';
import type { Socks5Credentials } from './messages.js';

/** username → password. A Map or a plain record (only own keys count, never prototype ones). */
export type Socks5UserTable = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/** A custom check; it receives the credentials as UTF-8 text (invalid UTF-8 never reaches it). */
export type Socks5VerifyFn = (username: string, password: string) => boolean | Promise<boolean>;

/** `none` accepts only method 0x00; the other forms accept only username/password (0x02). */
export type Socks5Auth =
  | 'none'
  | { readonly users: Socks5UserTable }
  | { readonly verify: Socks5VerifyFn };

/**
 * Builds the credential check for a user table or callback. Table lookups
 * compare HMAC digests of the offered and the expected password with
 * `timingSafeEqual`, so neither the password's content nor its length shows in
 * the timing; an unknown user is compared against a dummy digest so it takes
 * the same path as a wrong password. Resolves with the user name, or null.
 */
export function credentialChecker(auth: Exclude<Socks5Auth, 'none'>): CredentialCheck {
  let check = checkers.get(auth);
  if (check === undefined) {
    check = buildChecker(auth);
    checkers.set(auth, check);
  }
  return check;
}

export type CredentialCheck = (credentials: Socks5Credentials) => Promise<string | null>;

// One checker (and HMAC key) per auth configuration, not per connection.
const checkers = new WeakMap<object, CredentialCheck>();

function buildChecker(auth: Exclude<Socks5Auth, 'none'>): CredentialCheck {
  if ('verify' in auth) {
    const verify = auth.verify;
    return async ({ username, password }) => {
      const user = decode(username);
      const pass = decode(password);
      if (user === null || pass === null) return null;
      return (await verify(user, pass)) === true ? user : null;
    };
  }
  const users = auth.users;
  const key = randomBytes(32);
  const digest = (bytes: Uint8Array | string) => createHmac('sha256', key).update(bytes).digest();
  const dummy = digest('');
  return async ({ username, password }) => {
    const user = decode(username);
    const expected = user === null ? undefined : lookup(users, user);
    const offered = digest(password);
    const same = timingSafeEqual(offered, expected === undefined ? dummy : digest(expected));
    return same && expected !== undefined ? user : null;
  };
}

function lookup(users: Socks5UserTable, user: string): string | undefined {
  if (users instanceof Map) return (users as ReadonlyMap<string, string>).get(user);
  const record = users as Readonly<Record<string, string>>;
  if (!Object.hasOwn(record, user)) return undefined;
  const value = record[user];
  return typeof value === 'string' ? value : undefined;
}

function decode(bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}
