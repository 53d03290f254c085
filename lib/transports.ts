// `vproxy-ts/transports`: the transports and layers this build ships, for a
// program that wants a registry with only some of them (or its own next to them).
// `createDefaultRegistry()` registers all of them.

export { createDefaultRegistry } from '../transports/default-registry.js';
export { kcpTransport } from '../transports/kcp/index.js';
export { muxLayer } from '../transports/mux/index.js';
export { tcpTransport } from '../transports/tcp/index.js';
export { tlsLayer } from '../transports/tls/index.js';
export { udpTransport } from '../transports/udp/index.js';
export { wsLayer } from '../transports/ws/index.js';
