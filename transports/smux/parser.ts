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
 * to `onFrame`. Whole frames inside one piece are handed out as views (no copy); a
 * frame split across pieces is copied once into a buffer of its exact size, so
 * feeding a 64 KiB frame a byte at a time costs 64 KiB of copying, not 2 GiB. Memory
 * is bounded by one frame (≤ 8 + maxFrame bytes). The first violation throws a
 * SmuxError, and the parser stays failed (every later push rethrows it) because smux
 * cannot resynchronise a byte stream.
 */
export class SmuxParser {
  readonly version: SmuxVersion;
  readonly maxFrame: number;
  /** Frames parsed so far. */
  frames = 0;
  private readonly header = Buffer.alloc(HEADER_SIZE);
  private headerFilled = 0;
  /** Body of the frame being assembled, once its header is complete. */
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private failed: SmuxError | null = null;

  constructor(options: SmuxParserOptions) {
    this.version = options.version;
    this.maxFrame = Math.min(options.maxFrame ?? MAX_FRAME, MAX_FRAME);
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.headerFilled + this.bodyFilled;
  }

  push(chunk: Uint8Array, onFrame: (frame: SmuxFrame) => void): void {
    if (this.failed !== null) throw this.failed;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    let o = 0;
    if (this.headerFilled > 0) {
      o = this.assemble(buf, 0, onFrame);
      if (this.headerFilled > 0) return;
    }
    while (buf.length - o >= HEADER_SIZE) {
      const length = this.checkHeader(buf, o);
      if (buf.length - o - HEADER_SIZE < length) break;
      this.emit(buf, o, buf.subarray(o + HEADER_SIZE, o + HEADER_SIZE + length), onFrame);
      o += HEADER_SIZE + length;
    }
    if (o < buf.length) this.assemble(buf, o, onFrame);
  }

  /** Copies bytes from `o` into the partial frame; emits it when complete. Returns the new offset. */
  private assemble(buf: Buffer, o: number, onFrame: (frame: SmuxFrame) => void): number {
    if (this.headerFilled < HEADER_SIZE) {
      const n = Math.min(HEADER_SIZE - this.headerFilled, buf.length - o);
      buf.copy(this.header, this.headerFilled, o, o + n);
      this.headerFilled += n;
      o += n;
      if (this.headerFilled < HEADER_SIZE) return o;
      const length = this.checkHeader(this.header, 0);
      this.body = Buffer.allocUnsafe(length);
      this.bodyFilled = 0;
    }
    const body = this.body as Buffer;
    const n = Math.min(body.length - this.bodyFilled, buf.length - o);
    buf.copy(body, this.bodyFilled, o, o + n);
    this.bodyFilled += n;
    o += n;
    if (this.bodyFilled === body.length) {
      this.headerFilled = 0;
      this.bodyFilled = 0;
      this.body = null;
      this.emit(this.header, 0, body, onFrame);
    }
    return o;
  }

  private emit(h: Buffer, o: number, body: Buffer, onFrame: (frame: SmuxFrame) => void): void {
    const cmd = h[o + 1] as number;
    const sid = h.readUInt32LE(o + 4);
    this.frames++;
    if (cmd === CMD_PSH) onFrame({ cmd, sid, data: body });
    else if (cmd === CMD_UPD) {
      onFrame({ cmd, sid, consumed: body.readUInt32LE(0), window: body.readUInt32LE(4) });
    } else onFrame({ cmd: cmd as typeof CMD_SYN, sid });
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
    this.body = null;
    throw err;
  }
}
