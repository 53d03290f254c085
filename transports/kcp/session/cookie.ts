import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CMD_PUSH } from '../arq/index.js';
import { CMD_FEC_DATA, FEC_OVERHEAD } from './fec.js';
import { HEADER_BYTES } from './session.js';

/**
 * Stateless address validation for keyless listeners (see ../PROTOCOL.md).
 *
 * Without a key anyone can forge a session start from any source address, and each one used
 * to cost the listener a session slot for the idle timeout. A keyless listener now answers a
 * session start from an unknown (address, conv) with a RETRY carrying a cookie; only a start
 * that echoes a valid cookie creates a session. Until then the listener keeps nothing.
 *
 * Both control datagrams have the 24-byte shape of a KCP header, with commands that are not
 * KCP commands (like CLOSE, 0xFF):
 * ```
 *  0        4      5        6        8                   24
 *  | conv   | cmd  | bucket | 0  0   | cookie (16)       |
 * ```
 * - RETRY (0xFE), listener → client, exactly 24 bytes: never larger than the session start
 *   that triggered it (which is at least one 24-byte segment), so it cannot amplify.
 * - ECHO (0xFD), client → listener: the same 24 bytes as a prefix of a datagram, followed by
 *   the KCP segments (the session start). The client prefixes every datagram until the
 *   listener answers with anything but a RETRY.
 *
 * cookie = HMAC-SHA256(per-listener random secret, conv ‖ bucket ‖ port ‖ ip)[0, 16), where
 * bucket = ⌊now / BUCKET_MS⌋. The low byte of the bucket travels in the clear so a check costs
 * one HMAC: the current and the previous bucket are accepted (a cookie lives 10–20 s).
 */
export const CMD_ECHO = 0xfd;
export const CMD_RETRY = 0xfe;
/** Size of a RETRY datagram and of the ECHO prefix. */
export const COOKIE_HEADER_BYTES = 24;
export const BUCKET_MS = 10_000;
const COOKIE_AT = 8;
const COOKIE_BYTES = 16;

export const CookieVerdict = { Valid: 0, Expired: 1, Invalid: 2 } as const;
export type CookieVerdict = (typeof CookieVerdict)[keyof typeof CookieVerdict];

/** Issues and checks cookies for one listener; holds nothing per peer. */
export class CookieJar {
  readonly #secret: Buffer;
  readonly #clock: () => number;
  readonly #input = Buffer.alloc(10);

  constructor(clock: () => number = Date.now, secret: Uint8Array = randomBytes(32)) {
    this.#secret = Buffer.from(secret);
    this.#clock = clock;
  }

  /** The RETRY datagram for a session start with `conv` from host:port. */
  retry(conv: number, host: string, port: number): Buffer {
    const bucket = Math.floor(this.#clock() / BUCKET_MS);
    const out = Buffer.alloc(COOKIE_HEADER_BYTES);
    out.writeUInt32LE(conv >>> 0, 0);
    out[4] = CMD_RETRY;
    out[5] = bucket & 0xff;
    this.#mac(conv, bucket, host, port).copy(out, COOKIE_AT, 0, COOKIE_BYTES);
    return out;
  }

  /** Checks the cookie of an ECHO prefix (`echo[0, 24)`) that arrived from host:port. */
  check(echo: Uint8Array, host: string, port: number): CookieVerdict {
    if (echo.length < COOKIE_HEADER_BYTES) return CookieVerdict.Invalid;
    const now = Math.floor(this.#clock() / BUCKET_MS);
    const low = echo[5] as number;
    // The bucket's low byte picks the bucket: one HMAC per check, none for stale cookies.
    const bucket = low === (now & 0xff) ? now : low === ((now - 1) & 0xff) ? now - 1 : -1;
    if (bucket < 0) return CookieVerdict.Expired;
    const conv = readU32(echo, 0);
    const mac = this.#mac(conv, bucket, host, port);
    const given = echo.subarray(COOKIE_AT, COOKIE_AT + COOKIE_BYTES);
    return timingSafeEqual(mac.subarray(0, COOKIE_BYTES), given)
      ? CookieVerdict.Valid
      : CookieVerdict.Invalid;
  }

  #mac(conv: number, bucket: number, host: string, port: number): Buffer {
    const input = this.#input;
    input.writeUInt32LE(conv >>> 0, 0);
    input.writeUInt32LE(bucket >>> 0, 4);
    input.writeUInt16LE(port & 0xffff, 8);
    return createHmac('sha256', this.#secret).update(input).update(host, 'latin1').digest();
  }
}

/**
 * Whether `plain` starts a session: its first segment is PUSH sn 0 with una 0, in the
 * datagram itself or, with `fec=`, in the FEC data shard it is (see fec.ts).
 */
export function isSessionStart(plain: Uint8Array): boolean {
  const at = plain[4] === CMD_FEC_DATA ? FEC_OVERHEAD : 0;
  return (
    plain.length >= at + HEADER_BYTES &&
    plain[at + 4] === CMD_PUSH &&
    readU32(plain, at + 12) === 0 &&
    readU32(plain, at + 16) === 0
  );
}

/** The segments behind an ECHO prefix, or null when `plain` is no well-formed ECHO. */
export function echoPayload(plain: Uint8Array): Uint8Array | null {
  if (
    plain.length < COOKIE_HEADER_BYTES + HEADER_BYTES ||
    plain[4] !== CMD_ECHO ||
    plain[6] !== 0 ||
    plain[7] !== 0 ||
    readU32(plain, 0) !== readU32(plain, COOKIE_HEADER_BYTES)
  ) {
    return null;
  }
  return plain.subarray(COOKIE_HEADER_BYTES);
}

/** Whether `plain` is a RETRY for `conv`. */
export function isRetryFor(plain: Uint8Array, conv: number): boolean {
  return (
    plain.length === COOKIE_HEADER_BYTES &&
    plain[4] === CMD_RETRY &&
    plain[6] === 0 &&
    plain[7] === 0 &&
    readU32(plain, 0) === conv >>> 0
  );
}

/**
 * What a keyless listener does with a datagram for no session:
 * - `create`: a valid cookie on a session start; `segments` go to the new session;
 * - `retry`: a session start without a (valid) cookie: answer with a RETRY;
 * - `close`: not a session start (a stray from an old session): answer with CLOSE;
 * - `drop`: no answer (a malformed ECHO, or an ECHO that starts nothing: a client in setup
 *   whose start is still on its way, which a CLOSE would kill).
 * `cookie` says what the cookie check found, for the counters.
 */
export interface Admission {
  readonly action: 'create' | 'retry' | 'close' | 'drop';
  readonly cookie: 'none' | CookieVerdict;
  readonly segments: Uint8Array | null;
}

const CLOSE: Admission = { action: 'close', cookie: 'none', segments: null };
const DROP: Admission = { action: 'drop', cookie: 'none', segments: null };
const RETRY: Admission = { action: 'retry', cookie: 'none', segments: null };

/** Decides about `plain` (≥ 24 bytes, not a CLOSE) from host:port; never throws. */
export function admit(plain: Uint8Array, host: string, port: number, jar: CookieJar): Admission {
  const cmd = plain[4];
  if (cmd === CMD_RETRY) return DROP; // never answer our own kind of control datagram
  if (cmd !== CMD_ECHO) return isSessionStart(plain) ? RETRY : CLOSE;
  const segments = echoPayload(plain);
  if (segments === null) return DROP;
  const cookie = jar.check(plain, host, port);
  const start = isSessionStart(segments);
  if (cookie === CookieVerdict.Valid) {
    return start ? { action: 'create', cookie, segments } : { action: 'drop', cookie, segments };
  }
  // Expired (a slow client) or invalid: a fresh cookie lets an honest client try again.
  return { action: start ? 'retry' : 'drop', cookie, segments: null };
}

function readU32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) | ((b[o + 1] as number) << 8) | ((b[o + 2] as number) << 16)) +
    (b[o + 3] as number) * 0x1000000
  );
}
