import { codedError, type ErrorCodeTable } from '../../src/fd/errors.js';

/** Codes of a broken snappy framing stream (transports/snappy-frame). */
export const SNAPPY_FRAME_ERROR_CODES = {
  ERR_SNAPPY_IDENTIFIER: 'data before the stream identifier, or a malformed identifier',
  ERR_SNAPPY_CHUNK_TYPE: 'a reserved unskippable chunk type (0x02-0x7f)',
  ERR_SNAPPY_CORRUPT: 'a data chunk too short, too long, or whose block does not decompress',
  ERR_SNAPPY_CHECKSUM: 'the masked CRC-32C does not match the data',
} as const satisfies ErrorCodeTable;

export type SnappyFrameErrorCode = keyof typeof SNAPPY_FRAME_ERROR_CODES;

export class SnappyFrameError extends codedError(
  'SnappyFrameError',
  SNAPPY_FRAME_ERROR_CODES,
  'snappy',
) {}
