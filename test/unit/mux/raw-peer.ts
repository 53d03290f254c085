import { FrameParser } from '../../../transports/mux/parser.js';
import type { MemoryEnd } from './pair.js';
import { type Event, Recorder } from './recorder.js';

/**
 * A hand-driven peer: writes raw bytes to a session and records every frame the
 * session sends back, so tests can check the wire, not just the API.
 */
export class RawPeer {
  readonly recorder = new Recorder();
  readonly #end: MemoryEnd;
  readonly #parser = new FrameParser(this.recorder, { maxData: 0xff_ffff, maxGzip: 0xff_ffff });
  ended = false;

  constructor(end: MemoryEnd) {
    this.#end = end;
    end.on('data', (chunk: Buffer) => this.#parser.push(chunk));
    // Like a socket peer that closes once the other side has: end ours too.
    end.on('end', () => {
      this.ended = true;
      end.end();
    });
    end.on('error', () => {});
  }

  get events(): Event[] {
    return this.recorder.events;
  }

  send(...frames: Buffer[]): void {
    for (const f of frames) this.#end.write(f);
  }

  /** Stop reading: the session's writes back up. */
  pause(): void {
    this.#end.pause();
  }

  end(): void {
    this.#end.end();
  }

  destroy(): void {
    this.#end.destroy();
  }

  /** Resolves with the first recorded frame matching `match` (waiting up to `ms`). */
  async waitFor(match: (e: Event) => boolean, ms = 10_000): Promise<Event> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(match);
      if (hit) return hit;
      if (Date.now() > deadline) {
        throw new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(this.events)}`);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Wait `ms`, then return what arrived (for "nothing was sent" checks). */
  async settle(ms = 30): Promise<Event[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.events;
  }
}
