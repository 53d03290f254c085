import { MuxError } from './errors.js';
import { Flag, FrameType, HEADER_SIZE, MAX_GOAWAY_REASON, MAX_PAYLOAD } from './frame.js';
import { MAX_SETTINGS_ENTRIES, type MuxSettings, parseSettings } from './settings.js';

/**
 * Receives parsed frames. DATA payloads are streamed: onDataStart, then the
 * payload in as many onDataChunk slices as the input was split into (zero-copy
 * views of the input), then onDataEnd. A gzip DATA payload arrives as exactly
 * one chunk (it must be whole to inflate). Every other frame is delivered whole.
 */
export interface FrameHandler {
  onDataStart(streamId: number, flags: number, length: number): void;
  onDataChunk(streamId: number, chunk: Buffer): void;
  onDataEnd(streamId: number, flags: number): void;
  /** SYN / SYN-ACK (no END_STREAM) or RST (END_STREAM). */
  onHeaders(streamId: number, flags: number): void;
  /** null: the reference's empty handshake. */
  onSettings(settings: MuxSettings | null): void;
  onPing(ack: boolean, payload: Buffer): void;
  onGoaway(lastStreamId: number, code: number, reason: string): void;
  onWindowUpdate(streamId: number, increment: number): void;
}

export interface ParserLimits {
  /** Largest plain DATA payload; it is streamed, so this is policy, not memory. */
  readonly maxData: number;
  /** Largest gzip DATA payload: it is buffered whole before inflating. */
  readonly maxGzip: number;
}

enum State {
  Header,
  Stream,
  Buffer,
  Skip,
}

const TYPE_NAMES: Record<number, string> = {
  [FrameType.DATA]: 'DATA',
  [FrameType.HEADERS]: 'HEADERS',
  [FrameType.SETTINGS]: 'SETTINGS',
  [FrameType.PING]: 'PING',
  [FrameType.GOAWAY]: 'GOAWAY',
  [FrameType.WINDOW_UPDATE]: 'WINDOW_UPDATE',
};

export function frameTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/**
 * An incremental frame parser: feed it the inner stream's chunks as they come,
 * split anywhere. It copies only the 9-byte header when a header straddles two
 * chunks and the (small, bounded) payloads of control frames; DATA is sliced.
 * Structural errors throw a VproxyError (ERR_MUX_PROTOCOL / ERR_MUX_FRAME_SIZE)
 * and leave the parser failed: every later push throws the same error.
 */
export class FrameParser {
  readonly #handler: FrameHandler;
  #limits: ParserLimits;
  #state = State.Header;
  readonly #header = Buffer.alloc(HEADER_SIZE);
  #headerFill = 0;
  #type = 0;
  #flags = 0;
  #streamId = 0;
  #remaining = 0;
  #payload: Buffer = Buffer.alloc(0);
  #payloadFill = 0;
  #failed: Error | null = null;

  constructor(handler: FrameHandler, limits: ParserLimits) {
    this.#handler = handler;
    this.#limits = limits;
  }

  /** Change the DATA limits (after the handshake has settled them). */
  setLimits(limits: ParserLimits): void {
    this.#limits = limits;
  }

  push(chunk: Buffer): void {
    if (this.#failed !== null) throw this.#failed;
    try {
      this.#consume(chunk);
    } catch (err) {
      this.#failed = err instanceof Error ? err : new Error(String(err));
      throw err;
    }
  }

  #consume(chunk: Buffer): void {
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      switch (this.#state) {
        case State.Header: {
          if (this.#headerFill === 0 && end - at >= HEADER_SIZE) {
            this.#startFrame(chunk, at);
            at += HEADER_SIZE;
          } else {
            const n = Math.min(HEADER_SIZE - this.#headerFill, end - at);
            chunk.copy(this.#header, this.#headerFill, at, at + n);
            this.#headerFill += n;
            at += n;
            if (this.#headerFill === HEADER_SIZE) {
              this.#headerFill = 0;
              this.#startFrame(this.#header, 0);
            }
          }
          break;
        }
        case State.Stream: {
          const n = Math.min(this.#remaining, end - at);
          this.#handler.onDataChunk(
            this.#streamId,
            at === 0 && n === end ? chunk : chunk.subarray(at, at + n),
          );
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#endData();
          break;
        }
        case State.Buffer: {
          const n = Math.min(this.#remaining, end - at);
          chunk.copy(this.#payload, this.#payloadFill, at, at + n);
          this.#payloadFill += n;
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#dispatch(this.#payload);
          break;
        }
        case State.Skip: {
          const n = Math.min(this.#remaining, end - at);
          at += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = State.Header;
          break;
        }
      }
    }
  }

  #startFrame(src: Buffer, at: number): void {
    const length =
      (src[at] as number) * 0x1_0000 + (src[at + 1] as number) * 0x100 + (src[at + 2] as number);
    const type = src[at + 3] as number;
    const flags = src[at + 4] as number;
    const rawId = src.readUInt32BE(at + 5);
    this.#type = type;
    this.#flags = flags;
    this.#streamId = rawId & 0x7fff_ffff;
    this.#remaining = length;
    // WINDOW_UPDATE ignores R like RFC 7540; everywhere else the spec calls it an error.
    if (rawId > 0x7fff_ffff && type !== FrameType.WINDOW_UPDATE) {
      fail('ERR_MUX_PROTOCOL', `${frameTypeName(type)} frame has the reserved stream id bit set`);
    }
    switch (type) {
      case FrameType.DATA:
        this.#checkStream(true);
        if ((flags & Flag.GZIP) !== 0) {
          this.#checkLength(length, this.#limits.maxGzip, 'gzip DATA');
          this.#handler.onDataStart(this.#streamId, flags, length);
          this.#buffer(length);
        } else {
          this.#checkLength(length, this.#limits.maxData, 'DATA');
          this.#handler.onDataStart(this.#streamId, flags, length);
          if (length === 0) this.#endData();
          else this.#state = State.Stream;
        }
        return;
      case FrameType.HEADERS:
        this.#checkStream(true);
        if (length !== 0) {
          fail(
            'ERR_MUX_PROTOCOL',
            `HEADERS frame on stream ${this.#streamId} carries ${length} bytes (must be empty)`,
          );
        }
        this.#dispatch(EMPTY);
        return;
      case FrameType.SETTINGS:
        this.#checkStream(false);
        this.#checkLength(length, MAX_SETTINGS_ENTRIES * 6, 'SETTINGS');
        this.#buffer(length);
        return;
      case FrameType.PING:
        this.#checkStream(false);
        this.#checkLength(length, 8, 'PING');
        if (length < 8) {
          // The reference ignores a short PING, skipping its bytes.
          this.#skip(length);
          return;
        }
        this.#buffer(length);
        return;
      case FrameType.GOAWAY:
        this.#checkStream(false);
        this.#checkLength(length, 8 + MAX_GOAWAY_REASON, 'GOAWAY');
        this.#buffer(length);
        return;
      case FrameType.WINDOW_UPDATE:
        this.#checkStream(true);
        if (length !== 4) {
          fail('ERR_MUX_FRAME_SIZE', `WINDOW_UPDATE frame of ${length} bytes (must be 4)`);
        }
        this.#buffer(length);
        return;
      default:
        fail(
          'ERR_MUX_PROTOCOL',
          `unknown frame type ${frameTypeName(type)} (length ${length}, stream ${this.#streamId})`,
        );
    }
  }

  #checkStream(needsStream: boolean): void {
    if (needsStream && this.#streamId === 0) {
      fail('ERR_MUX_PROTOCOL', `${frameTypeName(this.#type)} frame on stream 0`);
    }
    if (!needsStream && this.#streamId !== 0) {
      fail(
        'ERR_MUX_PROTOCOL',
        `${frameTypeName(this.#type)} frame on stream ${this.#streamId} (must be 0)`,
      );
    }
  }

  #checkLength(length: number, max: number, what: string): void {
    if (length > Math.min(max, MAX_PAYLOAD)) {
      fail('ERR_MUX_FRAME_SIZE', `${what} frame of ${length} bytes exceeds the limit of ${max}`);
    }
  }

  #buffer(length: number): void {
    if (length === 0) {
      this.#dispatch(EMPTY);
      return;
    }
    this.#payload = Buffer.allocUnsafe(length);
    this.#payloadFill = 0;
    this.#state = State.Buffer;
  }

  #skip(length: number): void {
    this.#state = length === 0 ? State.Header : State.Skip;
  }

  #endData(): void {
    this.#state = State.Header;
    this.#handler.onDataEnd(this.#streamId, this.#flags);
  }

  #dispatch(payload: Buffer): void {
    this.#state = State.Header;
    const h = this.#handler;
    switch (this.#type) {
      case FrameType.DATA: // gzip: one whole chunk
        h.onDataChunk(this.#streamId, payload);
        h.onDataEnd(this.#streamId, this.#flags);
        return;
      case FrameType.HEADERS:
        h.onHeaders(this.#streamId, this.#flags);
        return;
      case FrameType.SETTINGS:
        h.onSettings(parseSettings(payload));
        return;
      case FrameType.PING:
        h.onPing((this.#flags & Flag.ACK) !== 0, payload);
        return;
      case FrameType.GOAWAY: {
        // The reference may send fewer than 8 bytes: then nothing but "go away" is known.
        if (payload.length < 8) {
          h.onGoaway(0xffff_ffff, 0xffff_ffff, '');
          return;
        }
        h.onGoaway(payload.readUInt32BE(0), payload.readUInt32BE(4), payload.toString('utf8', 8));
        return;
      }
      case FrameType.WINDOW_UPDATE: {
        const increment = payload.readUInt32BE(0) & 0x7fff_ffff;
        if (increment === 0) {
          fail('ERR_MUX_PROTOCOL', `WINDOW_UPDATE of 0 on stream ${this.#streamId}`);
        }
        h.onWindowUpdate(this.#streamId, increment);
        return;
      }
    }
  }
}

const EMPTY = Buffer.alloc(0);

function fail(code: 'ERR_MUX_PROTOCOL' | 'ERR_MUX_FRAME_SIZE', message: string): never {
  throw new MuxError(code, message);
}
