import type { StreamFD } from '../../src/fd/stream-fd.js';
import { Flag, FrameType, frameHeader } from './frame.js';
import { gzipIfSmaller } from './gzip.js';
import type { MuxStream } from './stream.js';

/** Bytes we let pile up in the inner stream before data frames wait for 'drain'. */
const OUT_HIGH_WATER = 256 * 1024;
/** Control frames the peer can make us queue (PING-ACK, SYN-ACK, RST) beyond that. */
const CONTROL_SLACK = 1024 * 1024;

/**
 * The write side of a session. Every frame written in one tick leaves in one
 * writev (the inner stream is corked until the next tick). DATA stops once the
 * inner stream holds OUT_HIGH_WATER bytes and resumes on 'drain', taking the
 * waiting streams round robin, one frame each per turn, so no stream can starve
 * the others. Control frames are never held back, but a peer that makes them
 * pile up without reading is detected (writeControl returns false).
 */
export class Outbound {
  readonly #inner: StreamFD;
  readonly #gzip: boolean;
  #queue: (MuxStream | undefined)[] = [];
  #head = 0;
  #blocked = false;
  #corked = false;
  #controlCap = Number.POSITIVE_INFINITY;

  constructor(inner: StreamFD, gzip: boolean) {
    this.#inner = inner;
    this.#gzip = gzip;
    inner.on('drain', this.#onDrain);
  }

  /** Bound the control backlog once the largest DATA frame we send is known. */
  setFrameMax(frameMax: number): void {
    this.#controlCap =
      Math.max(this.#inner.writableHighWaterMark, OUT_HIGH_WATER) + frameMax + CONTROL_SLACK;
  }

  write(buf: Buffer): void {
    if (!this.#corked) {
      this.#corked = true;
      this.#inner.cork();
      process.nextTick(this.#uncork);
    }
    this.#inner.write(buf);
  }

  writeData(streamId: number, payload: Buffer): void {
    const packed = this.#gzip ? gzipIfSmaller(payload) : null;
    const body = packed ?? payload;
    this.write(frameHeader(body.length, FrameType.DATA, packed ? Flag.GZIP : 0, streamId));
    this.write(body);
    if (this.#inner.writableLength >= OUT_HIGH_WATER && this.#inner.writableNeedDrain) {
      this.#blocked = true;
    }
  }

  /** Write a control frame; false means the peer is not reading and the session should fail. */
  writeControl(frame: Buffer): boolean {
    this.write(frame);
    return this.#inner.writableLength <= this.#controlCap;
  }

  /** A stream has something to send: let it send now, or queue it for its turn. */
  schedule(stream: MuxStream): void {
    if (stream.queued || !stream.canSend) return;
    if (this.#blocked || this.#head < this.#queue.length) {
      this.#enqueue(stream);
      return;
    }
    while (stream.sendOne()) {
      if (this.#blocked) {
        this.#enqueue(stream);
        return;
      }
    }
  }

  /** Forget every waiting stream (the session failed). */
  clear(): void {
    for (let i = this.#head; i < this.#queue.length; i++) {
      const stream = this.#queue[i];
      if (stream) stream.queued = false;
    }
    this.#queue = [];
    this.#head = 0;
    this.#inner.off('drain', this.#onDrain);
  }

  #enqueue(stream: MuxStream): void {
    stream.queued = true;
    this.#queue.push(stream);
  }

  readonly #onDrain = (): void => {
    this.#blocked = false;
    const queue = this.#queue;
    while (!this.#blocked && this.#head < queue.length) {
      const stream = queue[this.#head] as MuxStream;
      queue[this.#head++] = undefined;
      stream.queued = false;
      if (stream.sendOne()) this.#enqueue(stream);
    }
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
  };

  readonly #uncork = (): void => {
    this.#corked = false;
    this.#inner.uncork();
  };
}
