import type { Duplex } from 'node:stream';
import WebSocket from 'ws';

/** The upgraded stream and the bytes that arrived after the HTTP head. */
export interface TakenSocket {
  readonly socket: Duplex;
  readonly head: Buffer;
}

// ws calls `websocket.setSocket(socket, head, options)` on both sides as the very
// last step of a handshake it has fully validated (key/accept, version,
// subprotocol, extensions); that method then attaches ws's frame parser. It is
// not in @types/ws, hence this narrow declaration; the module-load check below
// turns a future ws that renamed it into a loud error rather than silent framing.
interface SetSocketMethod {
  setSocket(socket: Duplex, head: Buffer, options: object): void;
}

const baseSetSocket = (WebSocket.prototype as unknown as Partial<SetSocketMethod>).setSocket;
if (typeof baseSetSocket !== 'function') {
  throw new Error('ws no longer has WebSocket#setSocket; transports/ws raw mode needs updating');
}

/**
 * A ws WebSocket that, in raw mode, keeps the upgraded socket for itself
 * instead of letting ws parse frames on it. Subclassing is ws's documented
 * extension point for servers (the `WebSocket` option of WebSocketServer); this
 * way raw mode reuses ws's whole handshake (both the request checks and the
 * 101 checks) and only the byte stream after it is ours.
 */
export class TakeoverWebSocket extends WebSocket {
  /** Set (and 'takeover' emitted) instead of opening, when `wantsRaw()` said so. */
  taken: TakenSocket | null = null;

  /** Decided once the subprotocol is known (it is, on both sides, before setSocket). */
  protected wantsRaw(): boolean {
    return false;
  }

  setSocket(socket: Duplex, head: Buffer, options: object): void {
    if (!this.wantsRaw()) {
      (baseSetSocket as SetSocketMethod['setSocket']).call(this, socket, head, options);
      return;
    }
    this.taken = { socket, head };
    this.emit('takeover');
  }
}

/** The client class for raw mode: it asked for raw, so any valid 101 means raw. */
export class RawClientWebSocket extends TakeoverWebSocket {
  protected override wantsRaw(): boolean {
    return true;
  }
}

/** A server class whose raw decision follows the subprotocol ws selected. */
export function serverWebSocketClass(
  rawSubprotocols: ReadonlySet<string>,
): typeof TakeoverWebSocket {
  return class ServerWebSocket extends TakeoverWebSocket {
    protected override wantsRaw(): boolean {
      return rawSubprotocols.has(this.protocol);
    }
  };
}
