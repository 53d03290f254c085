/**
 * smux frame codec (xtaci/smux frame.go). Every frame is an 8-byte header
 *
 *   version u8 | cmd u8 | length u16 LE | stream id u32 LE
 *
 * then `length` bytes: PSH data, or for UPD (version 2) `consumed u32 LE | window u32 LE`.
 */
export const HEADER_SIZE = 8;
export const CMD_SYN = 0;
export const CMD_FIN = 1;
export const CMD_PSH = 2;
export const CMD_NOP = 3;
export const CMD_UPD = 4;
export const UPD_SIZE = 8;
/** The largest PSH body the length field can carry. */
export const MAX_FRAME = 0xffff;

export type SmuxVersion = 1 | 2;

/** A parsed frame; PSH data may be a view of the bytes that were pushed to the parser. */
export type SmuxFrame =
  | { readonly cmd: typeof CMD_SYN | typeof CMD_FIN | typeof CMD_NOP; readonly sid: number }
  | { readonly cmd: typeof CMD_PSH; readonly sid: number; readonly data: Buffer }
  | {
      readonly cmd: typeof CMD_UPD;
      readonly sid: number;
      readonly consumed: number;
      readonly window: number;
    };

/** Writes one header at `offset` of `out`. */
export function writeHeader(
  out: Buffer,
  offset: number,
  version: SmuxVersion,
  cmd: number,
  length: number,
  sid: number,
): void {
  out[offset] = version;
  out[offset + 1] = cmd;
  out.writeUInt16LE(length, offset + 2);
  out.writeUInt32LE(sid >>> 0, offset + 4);
}

/** SYN, FIN or NOP: a bare header (smux never gives them a body). */
export function encodeControl(
  version: SmuxVersion,
  cmd: typeof CMD_SYN | typeof CMD_FIN | typeof CMD_NOP,
  sid: number,
): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE);
  writeHeader(out, 0, version, cmd, 0, sid);
  return out;
}

/**
 * PSH frames for `data`, split at `maxFrame` bytes (smux's MaxFrameSize, 32 KiB by
 * default) into one contiguous buffer so a single write carries them all.
 */
export function encodePush(
  version: SmuxVersion,
  sid: number,
  data: Uint8Array,
  maxFrame = 32768,
): Buffer {
  const size = Math.min(Math.max(1, maxFrame), MAX_FRAME);
  const frames = Math.max(1, Math.ceil(data.length / size));
  const out = Buffer.allocUnsafe(frames * HEADER_SIZE + data.length);
  let o = 0;
  for (let at = 0, i = 0; i < frames; i++, at += size) {
    const n = Math.min(size, data.length - at);
    writeHeader(out, o, version, CMD_PSH, n, sid);
    out.set(data.subarray(at, at + n), o + HEADER_SIZE);
    o += HEADER_SIZE + n;
  }
  return out;
}

/** UPD (version 2): the receiver has consumed `consumed` bytes and offers `window`. */
export function encodeUpdate(sid: number, consumed: number, window: number): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + UPD_SIZE);
  writeHeader(out, 0, 2, CMD_UPD, UPD_SIZE, sid);
  out.writeUInt32LE(consumed >>> 0, HEADER_SIZE);
  out.writeUInt32LE(window >>> 0, HEADER_SIZE + 4);
  return out;
}
