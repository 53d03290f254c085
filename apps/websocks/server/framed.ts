import { WebSocket } from 'ws';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import type { FramedAdopter } from '../../../src/websocks/server/front-door.js';
import { WsFramedStream } from '../../../transports/ws/index.js';

/** The ws transport's defaults: 1 MiB messages, a ping every 30 s, dead after 90 s of silence. */
const SETTINGS = { maxPayload: 1024 * 1024, pingIntervalMs: 30_000, pongTimeoutMs: 90_000 };

type ServerSideWebSocket = WebSocket & {
  // ws's own upgrade path calls this after writing the 101; the door wrote ours.
  setSocket(
    socket: StreamFD,
    head: Buffer,
    options: { maxPayload: number; skipUTF8Validation: boolean; allowSynchronousEvents: boolean },
  ): void;
};

/**
 * Framed mode for the door: a server-side ws WebSocket on the socket (the 101
 * already sent by the door), read through the ws transport's framed stream —
 * the same message convention as `ws://` listeners (binary messages, an empty
 * one = end of that side's output), so the ws transport's client is a framed
 * WebSocks client.
 */
export const wsFramedAdopter: FramedAdopter = (socket, head) => {
  // `new WebSocket(null, …)` is ws's server-side form (what its own upgrade path builds).
  const ServerWebSocket = WebSocket as unknown as new (
    address: null,
    protocols: undefined,
    options: { autoPong: boolean },
  ) => ServerSideWebSocket;
  const ws = new ServerWebSocket(null, undefined, { autoPong: true });
  ws.setSocket(socket, head, {
    maxPayload: SETTINGS.maxPayload,
    skipUTF8Validation: true,
    allowSynchronousEvents: true,
  });
  // The door hands the socket over paused; ws reads it through 'data'.
  socket.resume();
  return new WsFramedStream(ws, socket, `ws+${socket.kind}`, SETTINGS);
};
