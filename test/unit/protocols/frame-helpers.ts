import { expect } from 'vitest';
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

/**
 * The outcome as plain data (errors as class, code and message), so that two
 * outcomes can be compared with toEqual: the oracle for every split of the same
 * bytes is the outcome of the unsplit bytes.
 */
export function comparableOutcome<T>(outcome: FeedOutcome<T>): unknown {
  if (outcome.kind !== 'error') return outcome;
  const e = outcome.error as { name?: string; code?: string; message?: string };
  return { kind: 'error', name: e.name, code: e.code, message: e.message };
}

/**
 * Feeding `bytes` cut at `cuts` must come to exactly what feeding them whole
 * does (same message and length consumed, same need-more, same error), and so
 * must feeding them one byte at a time. Returns the whole-bytes outcome.
 */
export function expectSplitInvariant<T>(
  spec: FrameSpec<T>,
  bytes: Uint8Array,
  cuts: readonly number[],
): FeedOutcome<T> {
  const whole = feedInPieces(spec, bytes);
  const expected = comparableOutcome(whole);
  expect(comparableOutcome(feedInPieces(spec, bytes, cuts)), `cut at ${cuts.join(',')}`).toEqual(
    expected,
  );
  const everyByte = Array.from({ length: Math.max(0, bytes.length - 1) }, (_, i) => i + 1);
  expect(comparableOutcome(feedInPieces(spec, bytes, everyByte)), 'byte by byte').toEqual(expected);
  return whole;
}
