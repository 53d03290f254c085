import { deadline } from '../fd/deadline.js';
import { VproxyError } from '../fd/errors.js';
import { errorFields, type Logger } from '../fd/logger.js';
import { describePeer, type StreamFD } from '../fd/stream-fd.js';
import type { Admission, ClientHandshake, TAKEN } from './admission.js';

/**
 * Run a client handshake under a hard deadline (a client trickling bytes cannot
 * hold it open). A handshake that throws or times out refuses the client (null)
 * and is logged with its cause: today's empty reply gets its reason. `who` is
 * the client's address, read before the stream could close (a closed socket
 * forgets its peer).
 */
export async function admit(
  client: StreamFD,
  handshake: ClientHandshake,
  timeoutMs: number,
  log: Logger,
  who: string | undefined,
): Promise<Admission | null | typeof TAKEN> {
  const limit = deadline(
    timeoutMs,
    () => new VproxyError('ERR_HANDSHAKE_TIMEOUT', `client handshake took over ${timeoutMs} ms`),
    () => client.destroy(),
  );
  try {
    const admission = await handshake(client, limit.signal);
    // A handshake that refuses says why itself (it knows the rule); this line is for tracing.
    if (admission === null && log.enabled('debug')) {
      log.debug('client-refused', { client: who ?? describePeer(client) });
    }
    return admission;
  } catch (err) {
    if (log.enabled('info')) {
      // Past the deadline the handshake fails with whatever the destroyed stream
      // says; the deadline is the cause.
      const cause: unknown = limit.signal.aborted ? limit.signal.reason : err;
      log.info('client-handshake-failed', {
        client: who ?? describePeer(client),
        ...errorFields(cause),
      });
    }
    return null;
  } finally {
    limit.cancel();
  }
}
