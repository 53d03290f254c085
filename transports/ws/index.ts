import { type Address, formatHostPort } from '../../src/fd/address.js';
import { awaitReady } from '../../src/fd/deadline.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { ConnectOptions, Layer, ListenOptions, Transport } from '../../src/fd/transport.js';
import { type ClientHandshake, startClient } from './client.js';
import { clientSettings, serverSettings, WS_OPTIONS } from './options.js';
import { type WsListenerHooks, WsServerFD } from './server.js';

export { WsFramedStream } from './framed-stream.js';
export type { HttpHandler, HttpRefusal } from './http-reply.js';
export { RAW_SUBPROTOCOL, type WsMode } from './options.js';
export { MAX_LENGTH_FRAME } from './raw-header.js';
export {
  type UpgradeHook,
  type UpgradeInfo,
  type WsListenerHooks,
  type WsListenerStats,
  WsServerFD,
} from './server.js';

const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * The WebSocket layer: `ws://` (= `ws+tcp`), `wss://` (alias of `ws+tls+tcp`)
 * and any other stack such as `ws+kcp://`. The address path is the request
 * path; its options are described in WS_OPTIONS. `hooks` are the defaults of
 * every listener this layer makes; a listener (a WsServerFD) can also be given
 * its own by setting `upgradeHook` / `httpHandler`.
 */
export function wsLayer(hooks: WsListenerHooks = {}): Layer {
  return {
    name: 'ws',
    options: WS_OPTIONS,
    wrap(inner: Transport, scheme: string): Transport {
      return {
        scheme,
        options: [...WS_OPTIONS, ...inner.options],
        connect: (address, options) => connectWs(inner, scheme, address, options),
        async listen(address: Address, options: ListenOptions = {}): Promise<ServerFD> {
          const settings = serverSettings(address);
          const server = await inner.listen(address, options);
          return new WsServerFD(
            scheme,
            server,
            settings,
            options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
            hooks,
          );
        },
      };
    },
  };
}

async function connectWs(
  inner: Transport,
  scheme: string,
  address: Address,
  options: ConnectOptions = {},
): Promise<StreamFD> {
  // Bad options fail before anything connects.
  const settings = clientSettings(address, scheme);
  const started = Date.now();
  const fd = await inner.connect(address, options);
  const left =
    options.timeoutMs === undefined
      ? undefined
      : Math.max(1, options.timeoutMs - (Date.now() - started));
  const authority = formatHostPort(address.host, address.port);
  let handshake: ClientHandshake;
  try {
    handshake = startClient(fd, scheme, settings, authority);
  } catch (err) {
    fd.destroy();
    throw err;
  }
  let stream: StreamFD | undefined;
  await awaitReady(
    handshake.ready.then((s) => {
      stream = s;
    }),
    { timeoutMs: left, signal: options.signal },
    `ws handshake with ${authority}`,
    () => handshake.abort(),
  );
  return stream as StreamFD;
}
