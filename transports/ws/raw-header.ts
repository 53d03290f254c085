/**
 * The WebSocks "maximum length frame" (spec apps.md §3.5): FIN + binary opcode,
 * no mask, 64-bit length 2^63 − 1. After the 101 each side sends these 10 bytes
 * once; a gateway that parses frames then sees one endless binary message and
 * lets every later byte through untouched. The client's copy is deliberately
 * unmasked (as the original does), so only gateways that downgrade to TCP after
 * the 101 pass raw mode; strict ones need framed mode.
 */
export const MAX_LENGTH_FRAME: Buffer = Buffer.from([
  0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
]);

export const RAW_HEADER_LENGTH = MAX_LENGTH_FRAME.length;

const PONG_OPCODE = 0x0a;

/**
 * Consumes the peer's 10-byte header from the front of a byte stream, fed in
 * arbitrary chunks. Its content is never validated (§3.5: debug builds send a
 * different length). With `skipPongs` (server side), 2-byte PONG frames that a
 * pooled client sends while idle before the header (§3.8, normally `8A 00`)
 * are dropped first: whenever two or more bytes are buffered and the first has
 * the PONG opcode, two bytes go. Pure: no I/O, no timers.
 */
export class RawHeaderReader {
  readonly #skipPongs: boolean;
  readonly #buffer = Buffer.alloc(RAW_HEADER_LENGTH);
  #length = 0;
  #pongs = 0;

  constructor(skipPongs: boolean) {
    this.#skipPongs = skipPongs;
  }

  /** PONG frames dropped so far. */
  get pongs(): number {
    return this.#pongs;
  }

  get complete(): boolean {
    return this.#length === RAW_HEADER_LENGTH;
  }

  /**
   * Feed the next chunk. Returns `null` while the header is incomplete, then
   * (once) a view of what followed it in `chunk`: the first payload bytes,
   * possibly empty. Feeding after completion is a caller bug.
   */
  push(chunk: Uint8Array): Buffer | null {
    if (this.complete) throw new Error('RawHeaderReader: header already complete');
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(RAW_HEADER_LENGTH - this.#length, chunk.length - offset);
      this.#buffer.set(chunk.subarray(offset, offset + take), this.#length);
      this.#length += take;
      offset += take;
      if (this.#skipPongs) this.#dropPongs();
      if (this.complete) {
        return Buffer.from(chunk.buffer, chunk.byteOffset + offset, chunk.length - offset);
      }
    }
    return null;
  }

  #dropPongs(): void {
    while (this.#length >= 2 && ((this.#buffer[0] as number) & 0x0f) === PONG_OPCODE) {
      this.#buffer.copyWithin(0, 2, this.#length);
      this.#length -= 2;
      this.#pongs++;
    }
  }
}
