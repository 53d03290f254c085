import { FRAME_HEADER_LENGTH } from './constants.js';

/** What a 10-byte frame header says, for logs; never a reason to refuse (§3.5). */
export interface FrameHeaderInfo {
  /** 'max-length': `82 7F` + 2^63 − 1; 'debug': the same with length 3 (debug builds); else 'other'. */
  readonly kind: 'max-length' | 'debug' | 'other';
  readonly fin: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** The 64-bit extended length when the 7-bit length is 127, else the 7-bit length. */
  readonly payloadLength: bigint;
}

/**
 * Describe a 10-byte frame header. Neither reference side validates these
 * bytes and ours must not either (gateways and debug builds differ), so this
 * is a validator for diagnostics only: it classifies, it never throws.
 */
export function inspectFrameHeader(bytes: Uint8Array): FrameHeaderInfo {
  const b0 = bytes[0] ?? 0;
  const b1 = bytes[1] ?? 0;
  const len7 = b1 & 0x7f;
  let payloadLength = BigInt(len7);
  if (len7 === 127 && bytes.length >= 10) {
    payloadLength = Buffer.from(bytes.buffer, bytes.byteOffset, 10).readBigUInt64BE(2);
  }
  const standard = bytes.length === FRAME_HEADER_LENGTH && b0 === 0x82 && b1 === 0x7f;
  const kind = !standard
    ? 'other'
    : payloadLength === 0x7fffffffffffffffn
      ? 'max-length'
      : payloadLength === 3n
        ? 'debug'
        : 'other';
  return {
    kind,
    fin: (b0 & 0x80) !== 0,
    opcode: b0 & 0x0f,
    masked: (b1 & 0x80) !== 0,
    payloadLength,
  };
}

/** True for exactly `82 7F 7F FF FF FF FF FF FF FF`. */
export function isMaxLengthFrame(bytes: Uint8Array): boolean {
  return inspectFrameHeader(bytes).kind === 'max-length';
}

export type PreambleResult =
  | { readonly done: false }
  | {
      readonly done: true;
      /** The peer's 10 bytes, whatever they are. */
      readonly header: Buffer;
      /** Bytes after them in the same chunk: the start of the SOCKS5 stage. */
      readonly leftover: Buffer;
    };

/**
 * Collects the peer's 10-byte frame header from chunks. On the server side
 * (`stripPongs`), whenever two or more bytes are buffered and the first byte's
 * low nibble is 0xA (a PONG), those two bytes are dropped — the agent's
 * keepalive `8A 00` sent while the connection sat in its pool (§3.5, §3.8);
 * `oddPongs` counts any that were not exactly `8A 00`, for the log. Holds at
 * most 10 bytes, whatever the peer sends.
 */
export class FramePreamble {
  readonly #stripPongs: boolean;
  readonly #buf = Buffer.alloc(FRAME_HEADER_LENGTH);
  #have = 0;
  #done = false;
  #pongs = 0;
  #oddPongs = 0;

  constructor(options: { stripPongs: boolean }) {
    this.#stripPongs = options.stripPongs;
  }

  get pongs(): number {
    return this.#pongs;
  }

  get oddPongs(): number {
    return this.#oddPongs;
  }

  get buffered(): number {
    return this.#have;
  }

  push(chunk: Uint8Array): PreambleResult {
    if (this.#done) throw new Error('FramePreamble: push after the header was complete');
    for (let i = 0; i < chunk.length; i++) {
      this.#buf[this.#have++] = chunk[i] as number;
      if (this.#stripPongs && this.#have === 2 && ((this.#buf[0] as number) & 0x0f) === 0x0a) {
        this.#pongs++;
        if (this.#buf[0] !== 0x8a || this.#buf[1] !== 0x00) this.#oddPongs++;
        this.#have = 0;
        continue;
      }
      if (this.#have === FRAME_HEADER_LENGTH) {
        this.#done = true;
        const rest = chunk.subarray(i + 1);
        return {
          done: true,
          header: Buffer.from(this.#buf),
          leftover: Buffer.from(rest.buffer, rest.byteOffset, rest.length),
        };
      }
    }
    return { done: false };
  }
}
