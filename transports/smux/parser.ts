import { SmuxError } from './errors.js';
import {
  CMD_FIN,
  CMD_NOP,
  CMD_PSH,
  CMD_SYN,
  CMD_UPD,
  HEADER_SIZE,
  MAX_FRAME,
  type SmuxFrame,
  type SmuxVersion,
  UPD_SIZE,
} from './frame.js';

export interface SmuxParserOptions {
  /** The session's version: a frame of another version is a protocol error, as in smux. */
  version: SmuxVersion;
  /** Largest PSH body accepted (≤ 65535, the default). */
  maxFrame?: number;
}

/**
 * Incremental smux frame parser. Bytes arrive in arbitrary pieces; complete frames go
 * to `onFrame`. Memory is bounded: it holds at most one partial frame (≤ 8 + maxFrame
 * bytes). The first violation throws a SmuxError, and the parser stays failed (every
 * later push rethrows it) because smux cannot resynchronise a byte stream.
 */
export class SmuxParser {
  readonly version: SmuxVersion;
  readonly maxFrame: number;
  /** Frames parsed so far. */
  frames = 0;
  private pending: Buffer | null = null;
  private failed: SmuxError | null = null;

  constructor(options: SmuxParserOptions) {
    this.version = options.version;
    this.maxFrame = Math.min(options.maxFrame ?? MAX_FRAME, MAX_FRAME);
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  push(chunk: Uint8Array, onFrame: (frame: SmuxFrame) => void): void {
    if (this.failed !== null) throw this.failed;
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    // Only the leftover of one frame is ever copied, never the whole stream.
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, buf]);
      this.pending = null;
    }
    let o = 0;
    while (buf.length - o >= HEADER_SIZE) {
      const length = this.checkHeader(buf, o);
      if (buf.length - o - HEADER_SIZE < length) break;
      const sid = buf.readUInt32LE(o + 4);
      const cmd = buf[o + 1] as number;
      const body = o + HEADER_SIZE;
      o = body + length;
      this.frames++;
      if (cmd === CMD_PSH) onFrame({ cmd, sid, data: buf.subarray(body, o) });
      else if (cmd === CMD_UPD) {
        onFrame({ cmd, sid, consumed: buf.readUInt32LE(body), window: buf.readUInt32LE(body + 4) });
      } else onFrame({ cmd: cmd as typeof CMD_SYN, sid });
    }
    if (o < buf.length) this.pending = Buffer.from(buf.subarray(o));
  }

  /** Validates the header at `o` and returns its body length; throws on a violation. */
  private checkHeader(buf: Buffer, o: number): number {
    const version = buf[o] as number;
    const cmd = buf[o + 1] as number;
    const length = buf.readUInt16LE(o + 2);
    if (version !== this.version) {
      return this.fail(
        new SmuxError('ERR_SMUX_VERSION', `frame version ${version}, session is ${this.version}`),
      );
    }
    switch (cmd) {
      case CMD_SYN:
      case CMD_FIN:
      case CMD_NOP:
        // smux skips no body for these: a length here would desynchronise the peer.
        if (length !== 0) {
          return this.fail(new SmuxError('ERR_SMUX_LENGTH', `cmd ${cmd} with length ${length}`));
        }
        return 0;
      case CMD_PSH:
        if (length > this.maxFrame) {
          return this.fail(
            new SmuxError('ERR_SMUX_FRAME_SIZE', `PSH of ${length} bytes > ${this.maxFrame}`),
          );
        }
        return length;
      case CMD_UPD:
        if (this.version < 2) {
          return this.fail(new SmuxError('ERR_SMUX_COMMAND', 'UPD on a version 1 session'));
        }
        if (length !== UPD_SIZE) {
          return this.fail(new SmuxError('ERR_SMUX_LENGTH', `UPD with length ${length}`));
        }
        return UPD_SIZE;
      default:
        return this.fail(new SmuxError('ERR_SMUX_COMMAND', `unknown command ${cmd}`));
    }
  }

  private fail(err: SmuxError): never {
    this.failed = err;
    this.pending = null;
    throw err;
  }
}
