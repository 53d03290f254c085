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
// not in @types/ws, hence this narrow declaration.
interface SetSocketMethod {
  setSocket(socket: Duplex, head: Buffer, options: object): void;
}
type SetSocket = SetSocketMethod['setSocket'];

/** Whether raw mode can take the upgraded socket over from ws, and why not. */
export interface TakeoverSupport {
  readonly available: boolean;
  /** Empty when available; otherwise what is missing, for the warning and the error. */
  readonly reason: string;
}

/**
 * Looks the private hook up without throwing: a future ws that renamed it must cost raw mode
 * only (every entry point imports this module through the default registry, so an
 * import-time throw killed even plain tcp). The ws layer logs the reason once and refuses
 * raw mode with it; framed mode does not use the hook.
 */
export function probeTakeover(proto: object): { support: TakeoverSupport; base: SetSocket | null } {
  const found = (proto as Partial<SetSocketMethod>).setSocket;
  if (typeof found === 'function') return { support: { available: true, reason: '' }, base: found };
  return {
    support: {
      available: false,
      reason: 'ws no longer has WebSocket#setSocket (raw mode takes the socket over there)',
    },
    base: null,
  };
}

const probed = probeTakeover(WebSocket.prototype);
const baseSetSocket = probed.base;
/** Read by the ws layer: raw mode is refused, with this reason, when unavailable. */
export const rawTakeover: TakeoverSupport = probed.support;

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
    if (!this.wantsRaw() && baseSetSocket !== null) {
      baseSetSocket.call(this, socket, head, options);
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
