/**
 * The snappy framing format over a byte stream (kcptun's compression layer between
 * smux and KCP). Block compression is snappyjs (pure JavaScript; chosen over the
 * native `snappy` package by CPU time per byte, see bench/kcptun-codecs.mjs).
 */
export { crc32c, maskedCrc32c } from './crc32c.js';
export { SnappyFrameDecoder, type SnappyFrameStats } from './decoder.js';
export { type SnappyEncoderStats, SnappyFrameEncoder } from './encoder.js';
export { SnappyFrameError, type SnappyFrameErrorCode } from './errors.js';
export {
  CHUNK_COMPRESSED,
  CHUNK_PADDING,
  CHUNK_STREAM_IDENTIFIER,
  CHUNK_UNCOMPRESSED,
  MAX_BLOCK,
  MAX_COMPRESSED_BLOCK,
  STREAM_IDENTIFIER,
} from './format.js';
