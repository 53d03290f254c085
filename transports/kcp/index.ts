import type { Transport } from '../../src/fd/transport.js';
import { MuxTransport } from '../mux/index.js';
import { kcpSessionTransport } from './session/transport.js';

export { DatagramCipher, deriveKey } from './crypto.js';
export { KCP_OPTIONS, kcpOptionsFromAddress } from './options.js';
export { KcpEndpoint } from './session/endpoint.js';
export { KcpStream } from './session/kcp-stream.js';
export { KcpScheduler, sharedScheduler } from './session/scheduler.js';
export { KcpSession } from './session/session.js';
export { KcpServerFD, kcpSessionTransport } from './session/transport.js';

/**
 * `kcp://host:port?mode=fast3&…`: TCP-like streams multiplexed (mux layer, h2-style framing
 * with per-stream flow control) over KCP sessions on UDP. connect() opens a stream on a
 * shared session to the address (made lazily, reused while healthy, replaced when it dies);
 * listen() accepts sessions and emits each of their streams as a 'connection'. The address
 * takes the kcp options (KCP_OPTIONS) and the mux ones (ping, window, …).
 */
export function kcpTransport(): Transport {
  return new MuxTransport(kcpSessionTransport, 'kcp');
}
