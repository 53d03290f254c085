import { layerOptions } from '../../src/fd/layer-options.js';
import type { Transport } from '../../src/fd/transport.js';
import { MuxTransport } from '../mux/index.js';
import { KCP_SCHEMA } from './options.js';
import { kcpSessionTransport } from './session/transport.js';

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
export { KcpStream } from './session/kcp-stream.js';
export { KcpScheduler, sharedScheduler } from './session/scheduler.js';
export { KcpSession } from './session/session.js';
export { KcpServerFD, kcpSessionTransport } from './session/transport.js';

/**
 * `kcp://host:port?mode=fast3&…`: TCP-like streams multiplexed (mux, h2-style framing
 * with per-stream flow control) over KCP sessions on UDP. connect() opens a stream on a
 * shared session to the address (made lazily, reused while healthy, replaced when it dies);
 * listen() accepts sessions and emits each of their streams as a 'connection'. One schema
 * (KCP_SCHEMA, prefix `kcp.`) holds the session options and the streams' mux ones, whose
 * window defaults larger than plain mux's: the mux transport is built with them, not
 * subclassed.
 */
export function kcpTransport(): Transport {
  return new MuxTransport(
    kcpSessionTransport,
    'kcp',
    (address) => layerOptions(address, KCP_SCHEMA, 'kcp').stream,
    KCP_SCHEMA,
  );
}
