import { type Logger, quietLogger } from '../../src/fd/logger.js';
import { sessionLayer } from '../../src/fd/session-layer.js';
import type { Transport } from '../../src/fd/transport.js';
import { MuxTransport } from '../mux/index.js';
import { KCP_SCHEMA } from './options.js';
import { kcpSessionTransportWith } from './session/transport.js';

export { DatagramCipher, deriveKey } from './crypto.js';
export {
  KCP_OPTIONS,
  KCP_SCHEMA,
  KCP_STREAM_WINDOW,
  type KcpTransportOptions,
  kcpOptionsFromAddress,
} from './options.js';
export { CookieJar } from './session/cookie.js';
export { EndpointStats, KcpEndpoint } from './session/endpoint.js';
export {
  type FecShards,
  SessionFec,
  type SessionFecStats,
} from './session/fec.js';
export { KcpStream } from './session/kcp-stream.js';
export { KcpScheduler, sharedScheduler } from './session/scheduler.js';
export { KcpSession } from './session/session.js';
export { KcpServerFD, kcpSessionTransport, kcpSessionTransportWith } from './session/transport.js';

/**
 * `kcp://host:port?mode=fast3&…`: TCP-like streams multiplexed (mux, h2-style framing
 * with per-stream flow control) over KCP sessions on UDP. connect() opens a stream on a
 * shared session to the address (made lazily, reused while healthy, replaced when it dies);
 * listen() accepts sessions and emits each of their streams as a 'connection'.
 *
 * Its stream side is a session layer like `mux`, built by the same helper over the KCP
 * session transport, with one schema (KCP_SCHEMA, prefix `kcp.`) holding the session
 * options and the streams' mux ones, whose window defaults larger: no subclass.
 */
const kcpStreams = sessionLayer({
  schema: KCP_SCHEMA,
  compose: (inner, kind, read) =>
    new MuxTransport(inner, kind, (address) => read(address).stream, KCP_SCHEMA),
});

/** `logger` hears what a peer could otherwise only see as a refused session (fec= mismatch). */
export function kcpTransport(logger: Logger = quietLogger): Transport {
  return kcpStreams.wrap(kcpSessionTransportWith(logger), 'kcp');
}
