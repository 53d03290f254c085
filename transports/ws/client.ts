import WebSocket, { type ClientOptions } from 'ws';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { Handshake } from '../../src/fd/stream-layer.js';
import { WsError } from './errors.js';
import { WsFramedStream } from './framed-stream.js';
import { CLOSE_TIMEOUT_MS, type ClientSettings } from './options.js';
import { MAX_LENGTH_FRAME } from './raw-header.js';
import { adoptRawStream, readRawHeader } from './raw-stream.js';
import { RawClientWebSocket, type TakeoverWebSocket } from './takeover-socket.js';

/** ws skips the XOR for an all-zero key, on both ends (a valid key, not a random one). */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/** A client upgrade in progress over an already connected inner stream (the layer helper's Handshake). */
export type ClientHandshake = Handshake;

/**
 * Upgrade `inner` to a WebSocket stream. ws writes the request and checks the
 * 101 (accept key, subprotocol); then framed mode wraps the WebSocket, and raw
 * mode sends its 10-byte header, waits for the server's, and hands back the
 * inner stream itself. `authority` is `host:port` of the target (it only makes
 * the URL valid: the Host header is set explicitly).
 */
export function startClient(
  inner: StreamFD,
  kind: string,
  settings: ClientSettings,
  authority: string,
): ClientHandshake {
  const options: ClientOptions & { closeTimeout: number } = {
    // ws opens its HTTP request over whatever this returns: our inner stream.
    createConnection: (() => inner) as unknown as ClientOptions['createConnection'],
    headers: { ...settings.headers, Host: settings.hostHeader },
    perMessageDeflate: false,
    maxPayload: settings.maxPayload,
    skipUTF8Validation: true,
    followRedirects: false,
    closeTimeout: CLOSE_TIMEOUT_MS,
    ...(settings.zeroMask ? { generateMask: zeroMask } : {}),
  };
  const url = `ws://${authority}${settings.path}`;
  const protocols = settings.subprotocol === '' ? [] : [settings.subprotocol];
  const ws =
    settings.mode === 'raw'
      ? new RawClientWebSocket(url, protocols, options)
      : new WebSocket(url, protocols, options);
  let aborted = false;
  let built: StreamFD | null = null;
  const finish = (stream: StreamFD): StreamFD => {
    built = stream;
    if (aborted) stream.destroy();
    return stream;
  };

  const ready = new Promise<StreamFD>((resolve, reject) => {
    const onError = (err: Error) => {
      cleanup();
      reject(
        new WsError('ERR_WS_HANDSHAKE', `websocket upgrade failed: ${err.message}`, {
          cause: err,
        }),
      );
    };
    const onOpen = () => {
      cleanup();
      resolve(finish(new WsFramedStream(ws, inner, kind, settings)));
    };
    const onTakeover = () => {
      cleanup();
      const taken = (ws as TakeoverWebSocket).taken;
      if (taken === null) return onError(new Error('raw takeover without a socket'));
      inner.write(MAX_LENGTH_FRAME);
      readRawHeader(inner, taken.head, false).then(
        () => resolve(finish(adoptRawStream(inner, kind))),
        (err: Error) => {
          inner.destroy();
          reject(err);
        },
      );
    };
    const cleanup = () => {
      ws.off('open', onOpen);
      ws.off('takeover', onTakeover);
      ws.off('error', onError);
    };
    ws.on('open', onOpen);
    ws.on('takeover', onTakeover);
    ws.on('error', onError);
  });

  return {
    ready,
    abort() {
      aborted = true;
      // A failed ws emits 'error' after its listeners are gone; nothing may crash on it.
      ws.on('error', () => {});
      if (ws.readyState === WebSocket.CONNECTING && (ws as TakeoverWebSocket).taken === null) {
        ws.terminate();
      }
      (built as StreamFD | null)?.destroy();
      inner.destroy();
    },
  };
}
