import type { Duplex } from 'node:stream';
import { VproxyError } from '../fd/errors.js';
import { FrameReader, type FrameSpec } from './frame-reader.js';

/**
 * Read exactly one message from a stream and leave every byte after it in the
 * stream (unshifted in the same tick the message completes, so a FIN or more
 * data that follows is still seen, in order, by whoever reads next).
 *
 * Uses paused-mode reads: nothing flows anywhere while the prefix is parsed,
 * and the stream's own high-water mark bounds what Node buffers meanwhile.
 * Rejects with the spec's error on bad bytes, `truncated` on a premature end,
 * `signal.reason` when aborted, ERR_PREMATURE_CLOSE when the stream closes.
 */
export function readFrame<T>(stream: Duplex, spec: FrameSpec<T>, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    if (stream.destroyed || stream.readableEnded) {
      reject(stream.destroyed ? closedError() : spec.truncated(0));
      return;
    }
    const reader = new FrameReader(spec);
    let settled = false;
    const settle = (err: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve(value as T);
      else reject(err);
    };
    const onReadable = () => {
      for (;;) {
        const chunk: Buffer | null = stream.read();
        if (chunk === null) return;
        let used: number;
        try {
          used = reader.feed(chunk);
        } catch (err) {
          settle(err);
          return;
        }
        if (reader.done) {
          if (used < chunk.length) stream.unshift(chunk.subarray(used));
          settle(undefined, reader.result);
          return;
        }
      }
    };
    const onEnd = () => settle(spec.truncated(reader.buffered));
    const onError = (err: Error) => settle(err);
    const onClose = () => settle(closedError());
    const onAbort = () => settle(signal?.reason);
    stream.on('readable', onReadable);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function closedError(): VproxyError {
  return new VproxyError('ERR_PREMATURE_CLOSE', 'stream closed before the message was complete');
}
