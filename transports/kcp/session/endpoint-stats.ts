import { type Admission, CookieVerdict } from './cookie.js';

/** Counters of one socket; plain fields, read any time. */
export class EndpointStats {
  datagramsIn = 0;
  datagramsOut = 0;
  /** Not for any session and not the start of a new one (stale, stray or forged plaintext). */
  stray = 0;
  /** New sessions refused because the listener was full or closing. */
  refused = 0;
  /** Socket errors (e.g. ICMP port unreachable on a connected socket); the link decides. */
  socketErrors = 0;
  /** CLOSE datagrams sent in answer to datagrams for no session (like a TCP RST). */
  closeReplies = 0;
  /** Keyless listener: RETRYs sent in answer to session starts without a valid cookie. */
  retriesSent = 0;
  /** Keyless listener: session starts that echoed a valid cookie (then accepted or refused). */
  cookiesAccepted = 0;
  /** Keyless listener: echoed cookies from an older bucket than the previous one. */
  cookiesExpired = 0;
  /** Keyless listener: echoed cookies that fail the HMAC (forged, or for another address or conv). */
  cookiesInvalid = 0;
  /** Keyless client: RETRYs followed. */
  retriesReceived = 0;
  /**
   * Datagrams of the other fec= setting (FEC ones without `fec=` here, plain KCP with it):
   * dropped; a session start among them is refused with a CLOSE saying why.
   */
  fecMismatch = 0;

  /** Counts what a cookie check found (nothing when there was no cookie). */
  countCookie(admission: Admission): void {
    const verdict = admission.cookie;
    // A valid cookie on a follow-up segment (its start still on the way) admits nothing.
    if (verdict === CookieVerdict.Valid) {
      if (admission.action === 'create') this.cookiesAccepted++;
    } else if (verdict === CookieVerdict.Expired) this.cookiesExpired++;
    else if (verdict === CookieVerdict.Invalid) this.cookiesInvalid++;
  }
}
