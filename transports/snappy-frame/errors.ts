import { type ErrorCode, VproxyError } from '../../src/fd/errors.js';

/**
 * Module-owned reasons for a broken snappy stream. The base `code` is the nearest
 * generic one (src/fd/errors.ts is shared and not extended from here).
 */
export type SnappyFrameErrorReason =
  /** Data before the stream identifier, or a malformed identifier. */
  | 'ERR_SNAPPY_IDENTIFIER'
  /** A reserved unskippable chunk type (0x02–0x7f). */
  | 'ERR_SNAPPY_CHUNK_TYPE'
  /** A data chunk too short, too long, or whose block does not decompress. */
  | 'ERR_SNAPPY_CORRUPT'
  /** The masked CRC-32C does not match the data. */
  | 'ERR_SNAPPY_CHECKSUM';

const BASE: Record<SnappyFrameErrorReason, ErrorCode> = {
  ERR_SNAPPY_IDENTIFIER: 'ERR_PROTOCOL_INVALID',
  ERR_SNAPPY_CHUNK_TYPE: 'ERR_NOT_SUPPORTED',
  ERR_SNAPPY_CORRUPT: 'ERR_PROTOCOL_INVALID',
  ERR_SNAPPY_CHECKSUM: 'ERR_PROTOCOL_INVALID',
};

export class SnappyFrameError extends VproxyError {
  readonly reason: SnappyFrameErrorReason;

  constructor(reason: SnappyFrameErrorReason, message: string) {
    super(BASE[reason], `snappy: ${message}`);
    this.name = 'SnappyFrameError';
    this.reason = reason;
  }
}
