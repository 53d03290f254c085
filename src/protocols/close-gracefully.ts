import type { Duplex } from 'node:stream';

/**
 * Send `last` (if any), shut down our side, and close once the peer has
 * closed too or `lingerMs` has passed. Until then whatever the peer still
 * sends is read and dropped: closing a TCP socket with unread input makes the
 * kernel answer with a reset, which can destroy our last message (a failure
 * reply) before the peer reads it — typical with clients that pipeline their
 * next message without waiting for our answer.
 */
export function closeGracefully(stream: Duplex, last: Uint8Array | null, lingerMs: number): void {
  if (stream.destroyed) return;
  let finished = stream.writableFinished;
  let ended = stream.readableEnded;
  const timer = setTimeout(() => stream.destroy(), lingerMs);
  const check = () => {
    if (finished && ended) stream.destroy();
  };
  stream.once('finish', () => {
    finished = true;
    check();
  });
  stream.once('end', () => {
    ended = true;
    check();
  });
  stream.once('close', () => clearTimeout(timer));
  stream.on('error', () => stream.destroy());
  // Drop input: flowing mode with no 'data' listener discards each chunk.
  stream.resume();
  if (!stream.writableEnded) {
    if (last !== null && last.length > 0) stream.end(last);
    else stream.end();
  }
  check();
}
