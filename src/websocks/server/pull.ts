import type { StreamFD } from '../../fd/stream-fd.js';

export type PullResult = Buffer | 'end' | 'timeout';

/**
 * Reads a stream one chunk at a time on demand: the stream stays paused
 * except while someone waits, so a client that sends faster than we answer
 * holds at most one chunk here (the "pause reading while replies are
 * unflushed" rule), and `detach` hands every unread byte back to the stream
 * for its next owner.
 */
export class Pull {
  readonly #fd: StreamFD;
  readonly #chunks: Buffer[] = [];
  #ended = false;
  #wake: (() => void) | null = null;
  readonly #onData = (chunk: Buffer) => {
    this.#chunks.push(chunk);
    this.#fd.pause();
    this.#notify();
  };
  readonly #onEnd = () => {
    this.#ended = true;
    this.#notify();
  };

  constructor(fd: StreamFD) {
    this.#fd = fd;
    fd.pause();
    fd.on('data', this.#onData);
    fd.on('end', this.#onEnd);
    fd.on('close', this.#onEnd);
  }

  /** Bytes to read again first (what followed a complete head in the last chunk). */
  putBack(bytes: Buffer): void {
    if (bytes.length > 0) this.#chunks.unshift(bytes);
  }

  /** The next chunk, 'end' once the peer ended or the stream closed, or 'timeout' past `deadline` (ms epoch). */
  async next(deadline: number): Promise<PullResult> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) return chunk;
      if (this.#ended || this.#fd.destroyed) return 'end';
      const wait = deadline - Date.now();
      if (wait <= 0) return 'timeout';
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = null;
          resolve(false);
        }, wait);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = null;
          resolve(true);
        };
        this.#fd.resume();
      });
      this.#fd.pause();
      if (!woke) return 'timeout';
    }
  }

  /** Stop reading; unread bytes go back into the stream, which is left paused. */
  detach(): void {
    this.#fd.off('data', this.#onData);
    this.#fd.off('end', this.#onEnd);
    this.#fd.off('close', this.#onEnd);
    this.#fd.pause();
    for (let i = this.#chunks.length - 1; i >= 0; i--) this.#fd.unshift(this.#chunks[i] as Buffer);
    this.#chunks.length = 0;
    // A TCP socket in net's `onread` mode stops its handle on pause() while the
    // Readable side still counts a read in progress, so the next owner's
    // 'readable' listener would wait forever (seen: a strict-mode client's
    // greeting never read). net's read() restarts the handle; read(0) takes nothing.
    if (!this.#fd.destroyed) this.#fd.read(0);
  }

  #notify(): void {
    this.#wake?.();
  }
}
