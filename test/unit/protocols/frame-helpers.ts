import { FrameReader, type FrameSpec } from '../../../src/protocols/frame-reader.js';

/** What feeding some bytes to a spec came to. */
export type FeedOutcome<T> =
  | { readonly kind: 'done'; readonly value: T; readonly consumed: number }
  | { readonly kind: 'more'; readonly buffered: number }
  | { readonly kind: 'error'; readonly error: unknown };

/**
 * Feed `bytes` to a fresh reader in pieces cut at `cuts` (sorted offsets),
 * the way a stream would deliver them; stops at the first complete message.
 */
export function feedInPieces<T>(
  spec: FrameSpec<T>,
  bytes: Uint8Array,
  cuts: readonly number[] = [],
): FeedOutcome<T> {
  const reader = new FrameReader(spec);
  const edges = [0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  let consumed = 0;
  try {
    for (let i = 0; i + 1 < edges.length; i++) {
      const chunk = Buffer.from(bytes.subarray(edges[i], edges[i + 1]));
      const used = reader.feed(chunk);
      consumed += used;
      if (reader.done) return { kind: 'done', value: reader.result, consumed };
      if (used !== chunk.length)
        throw new Error(`reader left ${chunk.length - used} bytes unfinished`);
    }
  } catch (error) {
    return { kind: 'error', error };
  }
  return { kind: 'more', buffered: reader.buffered };
}

/** Decode one whole message in one piece; throws what the spec throws. */
export function decodeWhole<T>(
  spec: FrameSpec<T>,
  bytes: Uint8Array,
): { value: T; consumed: number } {
  const outcome = feedInPieces(spec, bytes);
  if (outcome.kind === 'error') throw outcome.error;
  if (outcome.kind === 'more') throw new Error(`incomplete: ${outcome.buffered} bytes buffered`);
  return { value: outcome.value, consumed: outcome.consumed };
}

export function hexBytes(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}
