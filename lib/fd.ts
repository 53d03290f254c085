// `vproxy-ts/fd`: the FD contract every transport implements and everything
// above it relies on (DESIGN.md, "The FD contract"), plus the address syntax,
// the scheme registry, the error base class and the logger.
//
// Named re-exports only: a module's helpers that are not listed here stay
// private, so they can change without a major version.

export {
  type Address,
  formatAddress,
  formatHostPort,
  parseAddress,
  toAddress,
} from '../src/fd/address.js';
export type { DatagramFD, DatagramFDEvents } from '../src/fd/datagram-fd.js';
export {
  CORE_ERROR_CODES,
  type CoreErrorCode,
  connectFailureCode,
  type ErrorCode,
  type ErrorCodeTable,
  isVproxyError,
  VproxyError,
} from '../src/fd/errors.js';
export {
  layerOptions,
  type OptionSchema,
  plainSchema,
} from '../src/fd/layer-options.js';
export {
  createLogger,
  errorFields,
  LOG_CHANNEL_NAME,
  type LogFields,
  type LogFormat,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogRecord,
  type LogThreshold,
  type LogValue,
  parseLogFormat,
  parseLogLevel,
  quietLogger,
} from '../src/fd/logger.js';
export type { RegistryOptions } from '../src/fd/registry.js';
export { Registry } from '../src/fd/registry.js';
export type { BoundAddress, ServerFD, ServerFDEvents } from '../src/fd/server-fd.js';
export {
  type PacketCodec,
  type PacketLayer,
  type PacketLayerSpec,
  packetLayer,
  type SessionLayerSpec,
  sessionLayer,
} from '../src/fd/session-layer.js';
export {
  abortStream,
  brandStreamFD,
  describePeer,
  type SocketShaped,
  type StreamFD,
} from '../src/fd/stream-fd.js';
export {
  type Handshake,
  handshakeOn,
  type LayerTarget,
  type StreamLayerSpec,
  streamLayer,
} from '../src/fd/stream-layer.js';
export type {
  ConnectOptions,
  DatagramTransport,
  Layer,
  ListenOptions,
  OptionSpec,
  Transport,
} from '../src/fd/transport.js';
