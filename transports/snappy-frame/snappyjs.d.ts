// Typings for snappyjs (it ships none): the raw snappy block format, pure JavaScript.
declare module 'snappyjs' {
  /** Compresses one block; returns the same kind of container it was given. */
  export function compress(uncompressed: Uint8Array): Uint8Array;
  /** Decompresses one block; throws when it is corrupt or would exceed `maxLength`. */
  export function uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
}
