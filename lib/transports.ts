// `vproxy-ts/transports`: the transports and layers this build ships, for a
// program that wants a registry with only some of them (or its own next to them).
// `createDefaultRegistry()` registers all of them.

export { createDefaultRegistry } from '../transports/default-registry.js';
export { KCP_ERROR_CODES, KcpError, type KcpErrorCode } from '../transports/kcp/errors.js';
export { kcpTransport } from '../transports/kcp/index.js';
export { MUX_ERROR_CODES, MuxError, type MuxErrorCode } from '../transports/mux/errors.js';
export { muxLayer } from '../transports/mux/index.js';
export { tcpTransport } from '../transports/tcp/index.js';
export { tlsLayer } from '../transports/tls/index.js';
export { udpTransport } from '../transports/udp/index.js';
export { WS_ERROR_CODES, WsError, type WsErrorCode } from '../transports/ws/errors.js';
export { wsLayer } from '../transports/ws/index.js';
