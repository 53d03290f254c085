import { type DatagramCipher, MAX_SKEW_MS, saltKey } from '../crypto.js';
import { admit, CMD_ECHO, COOKIE_HEADER_BYTES, type CookieJar, isSessionStart } from './cookie.js';
import type { EndpointStats } from './endpoint-stats.js';
import { CMD_FEC_PARITY } from './fec.js';
import type { FecAgreement } from './fec-agreement.js';
import type { DatagramSource } from './udp-endpoint.js';

const CLOSED_SALTS_MAX = 4096;

/** What a listener does with a datagram for no session (SessionGate.check). */
export const StartVerdict = {
  /** Open a session; it starts with `SessionGate.start`. */
  Open: 0,
  /** No answer. */
  Drop: 1,
  /** Answer with CLOSE: no such session here. */
  Close: 2,
  /** Answer with CLOSE saying the peer's fec= is not ours. */
  CloseFecMismatch: 3,
  /** Answer with a RETRY carrying a cookie (SessionGate.retry). */
  Retry: 4,
} as const;
export type StartVerdict = (typeof StartVerdict)[keyof typeof StartVerdict];

/**
 * A listener's door: whether a datagram for no session may open one. A session starts only on
 * a datagram whose first segment is PUSH sn 0 with una 0, so stray retransmissions from a
 * closed session cannot resurrect it. Without a key the start must also echo a cookie this
 * listener sent in a RETRY (cookie.ts), so forged source addresses cannot fill the session
 * table; with a key, datagrams are authenticated and a replayed start is caught by its salt,
 * remembered here for as long as a sealed datagram is fresh. A client of another fec= is
 * refused with a CLOSE saying so, and a full or closing listener refuses with CLOSE.
 * Decides and counts; the endpoint sends the answers.
 */
export class SessionGate {
  /** After an Open verdict: the segments the session starts with (an ECHO's prefix gone). */
  start: Uint8Array = new Uint8Array(0);
  readonly #stats: EndpointStats;
  /** Keyless listener: issues and checks cookies. */
  readonly #cookies: CookieJar | null;
  readonly #cipher: DatagramCipher | null;
  readonly #fec: FecAgreement;
  /** Salts of sessions seen recently, and until when each is remembered. */
  readonly #salts = new Map<string, number>();

  constructor(
    stats: EndpointStats,
    cookies: CookieJar | null,
    cipher: DatagramCipher | null,
    fec: FecAgreement,
  ) {
    this.#stats = stats;
    this.#cookies = cookies;
    this.#cipher = cipher;
    this.#fec = fec;
  }

  /**
   * `plain` (decrypted, not a CLOSE) came from `from` for no session; `room`: the listener
   * accepts and has a free session slot.
   */
  check(plain: Uint8Array, from: DatagramSource, room: boolean): StartVerdict {
    const stats = this.#stats;
    // The client's fec= must be ours: refuse it clearly rather than let it retry in silence.
    const at = plain[4] === CMD_ECHO ? COOKIE_HEADER_BYTES : 0;
    const inner = plain[at + 4];
    const theirs = this.#fec.disagreement(plain, at);
    if (theirs !== null) {
      this.#fec.report(from.address, from.port, theirs);
      // Parity could be anyone's: only a datagram a session could start with gets an answer.
      return inner === CMD_FEC_PARITY ? StartVerdict.Drop : StartVerdict.CloseFecMismatch;
    }
    if (inner === CMD_FEC_PARITY) {
      // Parity of a session we do not have (its start lost or not yet here): no answer, as
      // a CLOSE would end a client whose start is merely late.
      stats.stray++;
      return StartVerdict.Drop;
    }
    let start = plain;
    const cookies = this.#cookies;
    if (cookies !== null) {
      const admission = admit(plain, from.address, from.port, cookies);
      stats.countCookie(admission);
      if (admission.action !== 'create' || admission.segments === null) {
        if (admission.action === 'retry') return StartVerdict.Retry;
        stats.stray++;
        return admission.action === 'close' ? StartVerdict.Close : StartVerdict.Drop;
      }
      start = admission.segments;
    } else if (!isSessionStart(plain)) {
      stats.stray++;
      return StartVerdict.Close;
    }
    if (!room) {
      stats.refused++;
      return StartVerdict.Close;
    }
    const cipher = this.#cipher;
    if (cipher !== null) {
      const salt = saltKey(cipher.lastNonce);
      if (this.#saltSeen(salt)) {
        cipher.stats.dropReplayed++;
        return StartVerdict.Drop;
      }
      this.#rememberSalt(salt);
    }
    this.start = start;
    return StartVerdict.Open;
  }

  /** Keyless listener: a 24-byte RETRY for `conv` at `to`, never larger than the start. */
  retry(conv: number, to: DatagramSource): Buffer | null {
    return this.#cookies === null ? null : this.#cookies.retry(conv, to.address, to.port);
  }

  #saltSeen(salt: string): boolean {
    const until = this.#salts.get(salt);
    return until !== undefined && until > Date.now();
  }

  #rememberSalt(salt: string): void {
    const now = Date.now();
    const salts = this.#salts;
    for (const [k, until] of salts) {
      if (until > now && salts.size < CLOSED_SALTS_MAX) break;
      salts.delete(k);
    }
    salts.set(salt, now + 2 * MAX_SKEW_MS);
  }
}
