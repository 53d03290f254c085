import { MuxError } from './errors.js';
import { FrameType, HEADER_SIZE, MAX_PAYLOAD, MAX_WINDOW, writeHeader } from './frame.js';

// The handshake is one SETTINGS frame each way (spec §2.4). The reference sends
// it empty and requires exactly that; we put RFC 7540-style entries (16-bit id,
// 32-bit value) in it to negotiate per-stream flow control. An empty handshake
// from either side means "reference peer": no WINDOW_UPDATE, no flow control.
//
// EARLY_DATA (ours, in the private range so RFC 7540 ids stay free) is the client telling
// the server that it opens streams and sends DATA without waiting for the server's
// SETTINGS: at most `value` bytes of DATA in all, in frames of at most MIN_FRAME_SETTING
// bytes, before those SETTINGS arrive (see ../PROTOCOL.md, "Early open"). Servers that
// predate it ignore the entry, as every unknown id.

export const SettingId = {
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  EARLY_DATA: 0xf001,
} as const;

/** The most entries a handshake may carry (ids are 16-bit; we know three). */
export const MAX_SETTINGS_ENTRIES = 32;
export const MIN_FRAME_SETTING = 1024;
/**
 * The most DATA bytes a client sends before the server's SETTINGS (RFC 7540's initial
 * window): a server of ours accepts them even beyond a smaller window of its own.
 */
export const EARLY_DATA_MAX = 65_535;

/** What one side tells the other about what it accepts. */
export interface MuxSettings {
  /** Per-stream window: bytes the sender accepts on each stream before granting more. */
  readonly window: number;
  /** The largest DATA payload the sender accepts. */
  readonly maxFrame: number;
  /** How many streams the sender lets its peer have open at once. */
  readonly maxStreams: number;
  /** Client: DATA bytes it sends before it sees the server's SETTINGS (absent or 0: none). */
  readonly early?: number;
}

/** Defaults for entries a peer leaves out (the RFC 7540 initial values). */
const ABSENT: MuxSettings = { window: 65_535, maxFrame: 16_384, maxStreams: 0xffff_ffff };

/** The handshake frame: the reference's exact empty SETTINGS when `settings` is null. */
export function encodeSettings(settings: MuxSettings | null): Buffer {
  const entries =
    settings === null
      ? []
      : [
          [SettingId.MAX_CONCURRENT_STREAMS, settings.maxStreams],
          [SettingId.INITIAL_WINDOW_SIZE, settings.window],
          [SettingId.MAX_FRAME_SIZE, settings.maxFrame],
          ...(settings.early ? [[SettingId.EARLY_DATA, settings.early]] : []),
        ];
  const frame = Buffer.alloc(HEADER_SIZE + entries.length * 6);
  writeHeader(frame, 0, entries.length * 6, FrameType.SETTINGS, 0, 0);
  let at = HEADER_SIZE;
  for (const [id, value] of entries) {
    frame.writeUInt16BE(id as number, at);
    frame.writeUInt32BE(value as number, at + 2);
    at += 6;
  }
  return frame;
}

/** Decode a handshake payload; null for the reference's empty one. Unknown ids are ignored. */
export function parseSettings(payload: Buffer): MuxSettings | null {
  if (payload.length === 0) return null;
  if (payload.length % 6 !== 0) {
    throw new MuxError(
      'ERR_MUX_FRAME_SIZE',
      `SETTINGS payload of ${payload.length} bytes is not a whole number of 6-byte entries`,
    );
  }
  let { window, maxFrame, maxStreams } = ABSENT;
  let early: number | undefined;
  for (let at = 0; at < payload.length; at += 6) {
    const id = payload.readUInt16BE(at);
    const value = payload.readUInt32BE(at + 2);
    if (id === SettingId.INITIAL_WINDOW_SIZE) {
      if (value < 1 || value > MAX_WINDOW) {
        throw new MuxError(
          'ERR_MUX_FLOW_CONTROL',
          `SETTINGS initial window ${value} is outside 1..${MAX_WINDOW}`,
        );
      }
      window = value;
    } else if (id === SettingId.MAX_FRAME_SIZE) {
      if (value < MIN_FRAME_SETTING || value > MAX_PAYLOAD) {
        throw new MuxError(
          'ERR_MUX_PROTOCOL',
          `SETTINGS max frame size ${value} is outside ${MIN_FRAME_SETTING}..${MAX_PAYLOAD}`,
        );
      }
      maxFrame = value;
    } else if (id === SettingId.MAX_CONCURRENT_STREAMS) {
      maxStreams = value;
    } else if (id === SettingId.EARLY_DATA) {
      if (value > EARLY_DATA_MAX) {
        throw new MuxError(
          'ERR_MUX_PROTOCOL',
          `SETTINGS early data ${value} is above ${EARLY_DATA_MAX}`,
        );
      }
      early = value;
    }
  }
  return early === undefined
    ? { window, maxFrame, maxStreams }
    : { window, maxFrame, maxStreams, early };
}
