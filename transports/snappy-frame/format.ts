/**
 * The snappy framing format (framing_format.txt; golang/snappy's Reader/Writer, which
 * kcptun uses over the whole smux byte stream). Each chunk is
 *
 *   type u8 | length u24 LE | body
 *
 * and data chunks start their body with the masked CRC-32C of the uncompressed data.
 */
export const CHUNK_COMPRESSED = 0x00;
export const CHUNK_UNCOMPRESSED = 0x01;
export const CHUNK_PADDING = 0xfe;
export const CHUNK_STREAM_IDENTIFIER = 0xff;
/** Types 0x02–0x7f are reserved and unskippable; 0x80–0xfd may be skipped. */
export const FIRST_SKIPPABLE = 0x80;

export const CHUNK_HEADER_SIZE = 4;
export const CHECKSUM_SIZE = 4;
/** At most 64 KiB of uncompressed data per chunk. */
export const MAX_BLOCK = 65536;
/** snappy's MaxEncodedLen(65536): the longest compressed block a writer can produce. */
export const MAX_COMPRESSED_BLOCK = 32 + MAX_BLOCK + Math.floor(MAX_BLOCK / 6);

/** `ff 06 00 00 "sNaPpY"`: the first chunk of every stream. */
export const STREAM_IDENTIFIER: Readonly<Buffer> = Buffer.from([
  0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59,
]);
