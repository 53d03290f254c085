// The h2streamed frame layout (../shared/spec/apps.md §2.1): a 9-byte header
// (24-bit length, type, flags, 31-bit stream id, all big endian) and a payload.
// The reference uses DATA, HEADERS, SETTINGS, PING and GOAWAY; this module adds
// WINDOW_UPDATE (the RFC 7540 layout) for per-stream flow control, used only when
// both peers announce settings in their handshake (see settings.ts).

export const HEADER_SIZE = 9;
/** The largest payload the 24-bit length field can describe. */
export const MAX_PAYLOAD = 0xff_ffff;
export const MAX_STREAM_ID = 0x7fff_ffff;
/** The largest window a WINDOW_UPDATE may produce (RFC 7540 §6.9.1). */
export const MAX_WINDOW = 0x7fff_ffff;

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  SETTINGS: 0x4,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
} as const;

export const Flag = {
  /** DATA: FIN (with or without payload); HEADERS: RST. */
  END_STREAM: 0x1,
  /** PING: this is the answer. */
  ACK: 0x1,
  /** DATA: the payload is gzip-compressed (a private flag of the reference). */
  GZIP: 0x4,
} as const;

/** GOAWAY error codes: the RFC 7540 values (the reference itself always sends 0xffffffff). */
export const WireError = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

/** The GOAWAY code for one of our error codes (INTERNAL_ERROR for anything else). */
export function wireCodeFor(code: string | undefined): number {
  switch (code) {
    case 'ERR_MUX_PROTOCOL':
      return WireError.PROTOCOL_ERROR;
    case 'ERR_MUX_FRAME_SIZE':
      return WireError.FRAME_SIZE_ERROR;
    case 'ERR_MUX_FLOW_CONTROL':
      return WireError.FLOW_CONTROL_ERROR;
    case 'ERR_MUX_LIMIT':
      return WireError.ENHANCE_YOUR_CALM;
    case 'ERR_HANDSHAKE_TIMEOUT':
      return WireError.SETTINGS_TIMEOUT;
    default:
      return WireError.INTERNAL_ERROR;
  }
}

/** A readable name for a GOAWAY code, for error messages. */
export function wireErrorName(code: number): string {
  for (const [name, value] of Object.entries(WireError)) if (value === code) return name;
  return `0x${code.toString(16).padStart(8, '0')}`;
}

/** The 8-byte GOAWAY preamble the reference sends: "no last stream, no code". */
export const REFERENCE_GOAWAY_UNSET = 0xffff_ffff;

/** Longest GOAWAY reason we send or accept: a diagnostic, not a transport. */
export const MAX_GOAWAY_REASON = 4096;

/** Write a frame header into `target` at `offset`. */
export function writeHeader(
  target: Buffer,
  offset: number,
  length: number,
  type: number,
  flags: number,
  streamId: number,
): void {
  target[offset] = (length >>> 16) & 0xff;
  target[offset + 1] = (length >>> 8) & 0xff;
  target[offset + 2] = length & 0xff;
  target[offset + 3] = type;
  target[offset + 4] = flags;
  target.writeUInt32BE(streamId >>> 0, offset + 5);
}

/** A fresh header (payload sent separately, so DATA is never copied). */
export function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  // allocUnsafe of 9 bytes comes from Node's shared pool: a slice, not a malloc.
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  writeHeader(header, 0, length, type, flags, streamId);
  return header;
}

/** A whole frame in one buffer (for control frames and tests). */
export function encodeFrame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = EMPTY,
): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  writeHeader(frame, 0, payload.length, type, flags, streamId);
  frame.set(payload, HEADER_SIZE);
  return frame;
}

const EMPTY = new Uint8Array(0);

export function encodePing(ack: boolean, id: Uint8Array): Buffer {
  return encodeFrame(FrameType.PING, ack ? Flag.ACK : 0, 0, id);
}

export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + 4);
  writeHeader(frame, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  frame.writeUInt32BE(increment, HEADER_SIZE);
  return frame;
}

export function encodeGoaway(lastStreamId: number, code: number, reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.length > MAX_GOAWAY_REASON) text = text.subarray(0, MAX_GOAWAY_REASON);
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId >>> 0, 0);
  payload.writeUInt32BE(code >>> 0, 4);
  payload.set(text, 8);
  return encodeFrame(FrameType.GOAWAY, 0, 0, payload);
}

/** SYN (client → server) and SYN-ACK (server → client) are the same bytes. */
export function encodeSyn(streamId: number): Buffer {
  return encodeFrame(FrameType.HEADERS, 0, streamId);
}

export function encodeRst(streamId: number): Buffer {
  return encodeFrame(FrameType.HEADERS, Flag.END_STREAM, streamId);
}

export function encodeFin(streamId: number): Buffer {
  return encodeFrame(FrameType.DATA, Flag.END_STREAM, streamId);
}
