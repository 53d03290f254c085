import type { Duplex } from 'node:stream';
import { brandStreamFD, type SocketShaped, type StreamFD } from '../../src/fd/stream-fd.js';
import { WsError } from './errors.js';
import { RawHeaderReader } from './raw-header.js';

/**
 * Read the peer's 10-byte header off `fd` (after `head`, the bytes that came
 * with the HTTP head), then put back whatever followed it, so the stream's next
 * reader sees the first payload byte first. Resolves once the header is in.
 */
export function readRawHeader(fd: Duplex, head: Buffer, skipPongs: boolean): Promise<void> {
  const reader = new RawHeaderReader(skipPongs);
  const rest = head.length > 0 ? reader.push(head) : null;
  if (rest !== null) {
    if (rest.length > 0) fd.unshift(rest);
    return Promise.resolve();
  }
  return new Promise<void>((resolve, reject) => {
    // 'readable' rather than 'data': once the listener goes, the stream is back
    // to "no consumer yet" (flowing null), as an unread socket is, and nothing
    // was read beyond what the kernel had already handed over.
    const onReadable = () => {
      for (let chunk = fd.read() as Buffer | null; chunk !== null; chunk = fd.read()) {
        const after = reader.push(chunk);
        if (after !== null) {
          cleanup();
          if (after.length > 0) fd.unshift(after);
          resolve();
          return;
        }
      }
    };
    const onGone = (err?: Error) => {
      cleanup();
      reject(
        new WsError(
          'ERR_WS_HANDSHAKE',
          `peer closed before sending the raw-mode frame header${err ? `: ${err.message}` : ''}`,
          { cause: err },
        ),
      );
    };
    const onClose = () => onGone();
    const cleanup = () => {
      fd.off('readable', onReadable);
      fd.off('end', onClose);
      fd.off('close', onClose);
      fd.off('error', onGone);
    };
    fd.on('readable', onReadable);
    fd.once('end', onClose);
    fd.once('close', onClose);
    fd.once('error', onGone);
  });
}

/**
 * The raw-mode StreamFD is the inner stream itself, so raw mode costs nothing
 * per byte. Only its identity changes: `kind` becomes the ws scheme and the
 * byte counters start at zero from here on (the HTTP upgrade and the 10-byte
 * headers are not payload, as a TLS socket does not count its handshake).
 */
export function adoptRawStream(fd: StreamFD, kind: string): StreamFD {
  // Bytes already read from the kernel but still queued in the stream are payload.
  rebaseCounter(fd, 'bytesRead', fd.bytesRead - fd.readableLength);
  rebaseCounter(fd, 'bytesWritten', fd.bytesWritten);
  // node:http (server side) leaves a throwing setEncoding on the sockets it parsed;
  // after an upgrade the stream is plain bytes again.
  if (Object.hasOwn(fd, 'setEncoding')) delete (fd as { setEncoding?: unknown }).setEncoding;
  return brandStreamFD(fd, kind);
}

type Counter = 'bytesRead' | 'bytesWritten';

/** Shadow `fd[name]` with the same counter minus `base`, whatever the original is. */
function rebaseCounter(fd: SocketShaped, name: Counter, base: number): void {
  const getter = findGetter(fd, name);
  if (getter !== undefined) {
    Object.defineProperty(fd, name, {
      configurable: true,
      enumerable: true,
      get: () => getter.call(fd) - base,
    });
    return;
  }
  // A plain field that the stream itself increments (`this.bytesRead += n`):
  // keep accepting its writes, which arrive already rebased.
  let value = fd[name];
  Object.defineProperty(fd, name, {
    configurable: true,
    enumerable: true,
    get: () => value - base,
    set: (v: number) => {
      value = v + base;
    },
  });
}

function findGetter(target: object, name: string): (() => number) | undefined {
  for (let o: object | null = target; o !== null; o = Object.getPrototypeOf(o)) {
    const descriptor = Object.getOwnPropertyDescriptor(o, name);
    if (descriptor !== undefined) return descriptor.get as (() => number) | undefined;
  }
  return undefined;
}
