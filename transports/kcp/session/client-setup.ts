import { CMD_ECHO, COOKIE_HEADER_BYTES, isRetryFor, isSessionStart } from './cookie.js';

/** Datagrams held while waiting for the listener's first answer; beyond, KCP resends. */
const HOLD_MAX = 64;
/** RETRYs a session follows; more would mean a broken or hostile path: ignore them. */
const RETRIES_MAX = 8;

/**
 * The client half of the cookie exchange (see ../PROTOCOL.md), alive from a keyless client
 * session's first datagram until the listener answers with anything but a RETRY.
 *
 * - Before a cookie: session starts go out as they are (the listener answers them with a
 *   RETRY); everything else the arq sends is held, because a listener without our session
 *   answers any other datagram with CLOSE, which would end the session before it began.
 * - On a RETRY: the latest session start and the held datagrams go out at once behind an
 *   ECHO prefix (no wait for KCP's retransmission timer), and so does every datagram the
 *   arq sends afterwards, retransmissions of the start included, until `finish()`.
 *
 * The endpoint lowered the session's mtu by the prefix size for this phase, so prefixed
 * datagrams stay within the configured mtu; it restores the mtu in `finish()`.
 */
export class ClientSetup {
  readonly conv: number;
  readonly #send: (datagram: Buffer) => void;
  #prefix: Buffer | null = null;
  #start: Buffer | null = null;
  #held: Buffer[] = [];
  #retries = 0;

  constructor(conv: number, send: (datagram: Buffer) => void) {
    this.conv = conv;
    this.#send = send;
  }

  /** RETRYs followed so far. */
  get retries(): number {
    return this.#retries;
  }

  /** An outgoing datagram of the session: `buf[0, len)`, copied before returning. */
  transmit(buf: Uint8Array, len: number): void {
    const prefix = this.#prefix;
    if (prefix !== null) {
      this.#send(prefixed(prefix, buf.subarray(0, len)));
      return;
    }
    const copy = Buffer.from(buf.subarray(0, len));
    if (isSessionStart(copy)) {
      this.#start = copy;
      this.#send(copy);
    } else if (this.#held.length < HOLD_MAX) {
      this.#held.push(copy);
    }
  }

  /**
   * A RETRY-shaped datagram from the listener. A RETRY for this session is followed (and
   * true returned); a malformed one is ignored. Any other datagram means the listener has
   * the session: the endpoint calls `finish()` instead.
   */
  onRetry(plain: Uint8Array): boolean {
    if (!isRetryFor(plain, this.conv) || this.#retries >= RETRIES_MAX) return false;
    this.#retries++;
    const prefix = Buffer.from(plain.subarray(0, COOKIE_HEADER_BYTES));
    prefix[4] = CMD_ECHO;
    this.#prefix = prefix;
    const start = this.#start;
    if (start !== null) this.#send(prefixed(prefix, start));
    for (const datagram of this.#held) this.#send(prefixed(prefix, datagram));
    this.#held = [];
    return true;
  }

  /** The listener answered: what is still held goes out as it is; nothing is prefixed now. */
  finish(): void {
    for (const datagram of this.#held) this.#send(datagram);
    this.#held = [];
    this.#start = null;
    this.#prefix = null;
  }
}

function prefixed(prefix: Buffer, datagram: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(COOKIE_HEADER_BYTES + datagram.length);
  prefix.copy(out, 0);
  out.set(datagram, COOKIE_HEADER_BYTES);
  return out;
}
