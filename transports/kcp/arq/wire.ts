/**
 * KCP segment wire format (spec apps.md §1.1): a fixed 24-byte little-endian header,
 * optionally followed by `len` payload bytes. Several segments ride back to back in one
 * datagram. These helpers read and write raw bytes by index so that parsing a datagram
 * allocates nothing (no DataView or Buffer wrapper per datagram).
 */

/** Bytes in a segment header. */
export const OVERHEAD = 24;

/** Command byte values. */
export const CMD_PUSH = 81;
export const CMD_ACK = 82;
export const CMD_WASK = 83;
export const CMD_WINS = 84;

/** Header field offsets inside a segment. */
export const OFF_CONV = 0;
export const OFF_CMD = 4;
export const OFF_FRG = 5;
export const OFF_WND = 6;
export const OFF_TS = 8;
export const OFF_SN = 12;
export const OFF_UNA = 16;
export const OFF_LEN = 20;

/** Signed 32-bit distance a − b between two uint32 sequence numbers or timestamps. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** Reads a u8; out-of-range offsets read as 0 (callers bound-check first). */
export function readU8(b: Uint8Array, o: number): number {
  return (b[o] as number) | 0;
}

export function readU16(b: Uint8Array, o: number): number {
  return ((b[o] as number) | ((b[o + 1] as number) << 8)) & 0xffff;
}

export function readU32(b: Uint8Array, o: number): number {
  return (
    ((b[o] as number) |
      ((b[o + 1] as number) << 8) |
      ((b[o + 2] as number) << 16) |
      ((b[o + 3] as number) << 24)) >>>
    0
  );
}

export function writeU16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}

export function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** Writes one complete 24-byte header at `o`. Values are truncated to their field widths. */
export function writeHeader(
  b: Uint8Array,
  o: number,
  conv: number,
  cmd: number,
  frg: number,
  wnd: number,
  ts: number,
  sn: number,
  una: number,
  len: number,
): void {
  writeU32(b, o + OFF_CONV, conv);
  b[o + OFF_CMD] = cmd;
  b[o + OFF_FRG] = frg;
  writeU16(b, o + OFF_WND, wnd);
  writeU32(b, o + OFF_TS, ts);
  writeU32(b, o + OFF_SN, sn);
  writeU32(b, o + OFF_UNA, una);
  writeU32(b, o + OFF_LEN, len);
}

/** A decoded header, for tests and diagnostics (the hot path reads fields in place). */
export interface SegmentHeader {
  conv: number;
  cmd: number;
  frg: number;
  wnd: number;
  ts: number;
  sn: number;
  una: number;
  len: number;
}

export function readHeader(b: Uint8Array, o: number): SegmentHeader {
  return {
    conv: readU32(b, o + OFF_CONV),
    cmd: readU8(b, o + OFF_CMD),
    frg: readU8(b, o + OFF_FRG),
    wnd: readU16(b, o + OFF_WND),
    ts: readU32(b, o + OFF_TS),
    sn: readU32(b, o + OFF_SN),
    una: readU32(b, o + OFF_UNA),
    len: readU32(b, o + OFF_LEN),
  };
}

/** A decoded segment with its payload (a view into the datagram), for tests and tools. */
export interface DecodedSegment extends SegmentHeader {
  payload: Uint8Array;
}

/**
 * Splits a datagram into segments without any validation beyond bounds; stops at the first
 * header that does not fit. Diagnostic helper, not used on the hot path.
 */
export function decodeDatagram(datagram: Uint8Array): DecodedSegment[] {
  const out: DecodedSegment[] = [];
  let o = 0;
  while (datagram.length - o >= OVERHEAD) {
    const h = readHeader(datagram, o);
    const end = o + OVERHEAD + h.len;
    if (end > datagram.length) break;
    out.push({ ...h, payload: datagram.subarray(o + OVERHEAD, end) });
    o = end;
  }
  return out;
}

/** Builds one segment's bytes (header + payload), for tests and tools. */
export function encodeSegment(h: Omit<SegmentHeader, 'len'>, payload?: Uint8Array): Uint8Array {
  const len = payload?.length ?? 0;
  const b = new Uint8Array(OVERHEAD + len);
  writeHeader(b, 0, h.conv, h.cmd, h.frg, h.wnd, h.ts, h.sn, h.una, len);
  if (payload) b.set(payload, OVERHEAD);
  return b;
}
