import { MuxError } from './errors.js';
import type { MuxStream, StreamOwner } from './stream.js';

/**
 * What one stream lets its peer send before its reader catches up. With flow
 * control: the peer may send at most `size` bytes the reader has not consumed,
 * and credit (WINDOW_UPDATE) is returned only for consumed bytes, so a paused
 * reader holds at most one window and stalls only its own sender. Without
 * (a reference peer): the session is told when the unread data crosses the
 * window, to pause the whole tunnel, and when it falls back.
 *
 * One per stream, created with it; the per-frame calls take numbers only, so
 * nothing is allocated per frame or chunk.
 */
export class ReceiveWindow {
  /** The window we advertised. */
  readonly size: number;
  readonly #owner: StreamOwner;
  readonly #stream: MuxStream;
  readonly #grantStep: number;
  // Bytes announced in frames, handed to the Readable, and granted back.
  #received = 0;
  #pushed = 0;
  #granted = 0;
  #backlogged = false;

  constructor(owner: StreamOwner, stream: MuxStream, size: number) {
    this.#owner = owner;
    this.#stream = stream;
    this.size = size;
    this.#grantStep = Math.max(1, size >>> 1);
  }

  /** How many more bytes the peer may send (Infinity without flow control). */
  get room(): number {
    if (!this.#owner.flowControl) return Infinity;
    return Math.max(0, this.size + this.#granted - this.#received) + this.#owner.earlyLeft;
  }

  /** `length` bytes arrive in a frame (or an inflated payload): check them against the window. */
  account(length: number): void {
    if (this.#owner.flowControl) {
      const room = Math.max(0, this.size + this.#granted - this.#received);
      if (length > room) {
        // Early data may overrun a small window, once per session and no further.
        const over = length - room;
        if (over > this.#owner.earlyLeft) {
          throw new MuxError(
            'ERR_MUX_FLOW_CONTROL',
            `stream ${this.#stream.id}: peer sent ${length} bytes with only ${
              this.size + this.#granted - this.#received
            } of window left`,
          );
        }
        this.#owner.spendEarly(over);
      }
    }
    this.#received += length;
  }

  /** `n` bytes were pushed into the Readable. */
  pushed(n: number): void {
    this.#pushed += n;
  }

  /**
   * Bytes left the Readable buffer (`buffered` are still in it): return credit,
   * unless the peer can send no more (`closed`: its FIN came or the stream is
   * detached); without flow control, unblock or block the tunnel.
   */
  consumed(buffered: number, closed: boolean): void {
    if (this.#owner.flowControl) {
      if (!closed) this.#maybeGrant(buffered);
    } else if (this.#backlogged) {
      if (buffered <= this.size) this.releaseBacklog();
    } else if (buffered > this.size) {
      this.#backlogged = true;
      this.#owner.legacyBacklog(this.#stream, true);
    }
  }

  /** Without flow control: the stream no longer holds the tunnel (FIN or destroyed). */
  releaseBacklog(): void {
    if (!this.#backlogged) return;
    this.#backlogged = false;
    this.#owner.legacyBacklog(this.#stream, false);
  }

  /** Return credit for what the reader consumed, in steps of half a window (fewer, larger updates). */
  #maybeGrant(buffered: number): void {
    const owed = this.#pushed - buffered - this.#granted;
    if (owed >= this.#grantStep) {
      this.#granted += owed;
      this.#owner.writeWindowUpdate(this.#stream.id, owed);
    }
  }
}
