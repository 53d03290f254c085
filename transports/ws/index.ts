import { formatHostPort } from '../../src/fd/address.js';
import { VproxyError } from '../../src/fd/errors.js';
import { type Logger, quietLogger } from '../../src/fd/logger.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import { type Handshake, type LayerTarget, streamLayer } from '../../src/fd/stream-layer.js';
import type { Layer } from '../../src/fd/transport.js';
import { startClient } from './client.js';
import { settingsOf, WS_SCHEMA, type WsOptions } from './options.js';
import { type WsListenerHooks, WsServerFD } from './server.js';
import { rawTakeover } from './takeover-socket.js';

export { WsFramedStream } from './framed-stream.js';
export type { HttpHandler, HttpRefusal } from './http-reply.js';
export { RAW_SUBPROTOCOL, WS_SCHEMA, type WsMode, type WsOptions } from './options.js';
export { MAX_LENGTH_FRAME } from './raw-header.js';
export {
  type UpgradeHook,
  type UpgradeInfo,
  type WsListenerHooks,
  type WsListenerStats,
  WsServerFD,
} from './server.js';
export { rawTakeover, type TakeoverSupport } from './takeover-socket.js';

/**
 * The WebSocket layer: `ws://` (= `ws+tcp`), `wss://` (alias of `ws+tls+tcp`)
 * and any other stack such as `ws+kcp://`. The address path is the request
 * path; its options are described in WS_OPTIONS (prefix `ws.`). `hooks` are the
 * defaults of every listener this layer makes; a listener (a WsServerFD) can also be
 * given its own by setting `upgradeHook` / `httpHandler`. Raw mode needs a private hook
 * of ws (takeover-socket.ts): without it, `logger` hears why once and raw mode is refused.
 */
export function wsLayer(hooks: WsListenerHooks = {}, logger: Logger = quietLogger): Layer {
  if (!rawTakeover.available) {
    logger.warn('ws-raw-mode-unavailable', { reason: rawTakeover.reason });
  }
  return streamLayer({
    schema: WS_SCHEMA,
    prepareClient(options: WsOptions, { address }: LayerTarget) {
      const settings = settingsOf(options.client);
      if (settings.mode === 'raw' && !rawTakeover.available) {
        throw new VproxyError(
          'ERR_NOT_SUPPORTED',
          `ws raw mode is unavailable for ${formatHostPort(address.host, address.port)}: ${rawTakeover.reason}`,
        );
      }
    },
    client(inner: StreamFD, options: WsOptions, { address, kind }: LayerTarget): Handshake {
      const authority = formatHostPort(address.host, address.port);
      return startClient(inner, kind, settingsOf(options.client), authority);
    },
    server() {
      // Never called: ws has a listener of its own (below).
      return Promise.reject(new Error('ws listens through its own listener'));
    },
    listener(options: WsOptions, { kind }: LayerTarget, handshakeTimeoutMs: number) {
      const settings = settingsOf(options.server);
      return (inner: ServerFD) => new WsServerFD(kind, inner, settings, handshakeTimeoutMs, hooks);
    },
  });
}
