import type { StreamFD } from '../fd/stream-fd.js';
import type { EarlyAnswer } from '../lb/websocks-tunnels.js';
import { type Admission, type ClientHandshake, TAKEN } from '../proxy/admission.js';

/**
 * `agent.early-reply on`: a proxied CONNECT (SOCKS5 or HTTP) is answered with
 * success as soon as its request is written on the tunnel, instead of after
 * the server's SOCKS5 reply. The client's first bytes then start while the
 * request is still on its way: on loopback this takes the server → agent →
 * client leg (two process wake-ups) off the time to the first byte. The
 * reference server did the same one hop further (§3.6: success before the
 * target's connect completes).
 *
 * The price is the reply code: a target the server cannot reach (or a tunnel
 * that fails on every server) can no longer be told apart; the client, told
 * success, sees its connection closed. Off by default for that reason.
 */
export class EarlyReplies {
  readonly #answers = new WeakMap<Admission, EarlyAnswer>();

  /** `handshake`, its admissions answerable early (see `wrap`). */
  handshake(handshake: ClientHandshake): ClientHandshake {
    return async (client, signal) => {
      const admission = await handshake(client, signal);
      return admission === null || admission === TAKEN ? admission : this.wrap(admission);
    };
  }

  /**
   * The same admission, answered at most once: by an early answer or by the
   * engine, whichever comes first. After an early success a failure writes
   * nothing (the engine then closes the client). An admission without a
   * success answer (plain-HTTP forwarding) is returned as it is.
   */
  wrap(admission: Admission): Admission {
    const { connected, failed } = admission;
    if (connected === undefined) return admission;
    let answered = false;
    const once: Admission = {
      ...admission,
      connected(backend: StreamFD): void {
        if (answered) return;
        answered = true;
        connected.call(admission, backend);
      },
      failed(reason, err): void {
        if (answered) return;
        answered = true;
        failed?.call(admission, reason, err);
      },
    };
    this.#answers.set(once, (tunnel) => once.connected?.(tunnel));
    return once;
  }

  /** How to answer `admission` early, or undefined when it was not wrapped here. */
  answerFor(admission: Admission): EarlyAnswer | undefined {
    return this.#answers.get(admission);
  }
}
