import type { Duplex } from 'node:stream';

/**
 * An ordered, reliable byte stream. It is a Node `Duplex` so that `tls`, `ws`,
 * `stream.pipeline` and every stream library work on any FD; the extra members
 * are exactly those of `net.Socket`, so a TCP or TLS socket *is* a StreamFD with
 * no wrapper (and no extra copy) in the hot path.
 *
 * Half-close: `end()` shuts down our output; `'end'` means the peer shut down
 * its output. Implementations must honour `allowHalfOpen` (never end the write
 * side just because the read side ended).
 */
export interface StreamFD extends SocketShaped {
  /** The scheme that produced this stream, e.g. `tcp` or `tls+tcp`. */
  readonly kind: string;
}

/** The `net.Socket` members a StreamFD has besides being a Duplex. */
export interface SocketShaped extends Duplex {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly bytesRead: number;
  readonly bytesWritten: number;
  /** Emit `'timeout'` after `ms` of inactivity (0 disables), as `net.Socket#setTimeout`. */
  setTimeout(ms: number, callback?: () => void): this;
}

/**
 * Tags an existing net.Socket-shaped duplex with its kind, without wrapping it.
 * A stream's first tag is a plain store (every TCP socket gets one: ~30 ns,
 * against ~270 ns for Object.defineProperty); a re-tag (a raw WebSocket
 * stream adopting its inner stream) redefines whatever the first one was.
 */
export function brandStreamFD<T extends SocketShaped>(stream: T, kind: string): T & StreamFD {
  if (Object.hasOwn(stream, 'kind')) {
    Object.defineProperty(stream, 'kind', { value: kind, enumerable: true, configurable: true });
  } else {
    (stream as T & { kind: string }).kind = kind;
  }
  return stream as T & StreamFD;
}

/**
 * Abort a stream: a TCP reset where the transport has one (so the peer sees the
 * failure, not a clean end), a plain destroy otherwise.
 *
 * Not a reset once our side has ended (the peer's FIN makes a socket without
 * allowHalfOpen end itself): libuv refuses to reset a handle whose shutdown has
 * started, and Node 20's resetAndDestroy then never closes it, so every such
 * abort leaked a descriptor (test/unit/fd/abort-stream.test.ts).
 */
export function abortStream(fd: Duplex, err?: Error): void {
  if (fd.destroyed) return;
  const resettable = fd as Duplex & { resetAndDestroy?: () => void };
  if (typeof resettable.resetAndDestroy === 'function' && !fd.writableEnded) {
    try {
      resettable.resetAndDestroy();
      return;
    } catch {
      // Only a raw TCP handle can be reset; net throws ERR_INVALID_HANDLE_TYPE,
      // before touching anything, for a TLS handle or a JS stream.
    }
  }
  fd.destroy(err);
}

/** `ip:port` of the peer, `[ip]:port` for IPv6, or `unknown`. */
export function describePeer(fd: StreamFD): string {
  const host = fd.remoteAddress;
  if (host === undefined || fd.remotePort === undefined) return 'unknown';
  return host.includes(':') ? `[${host}]:${fd.remotePort}` : `${host}:${fd.remotePort}`;
}
