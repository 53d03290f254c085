import { MuxError } from './errors.js';
import { MAX_STREAM_ID } from './frame.js';
import type { MuxStream } from './stream.js';

/** Closed streams whose peer has not sent its FIN yet, remembered to reset them if it sends more. */
const MAX_LINGERING = 4096;

/**
 * The streams of one session and their ids: the client opens odd ids, the
 * server even ones, each side counting up and never reusing an id. Knows which
 * ids were ever opened, so a frame for a stream that is gone can be told apart
 * from one for a stream that never existed (a protocol error).
 */
export class StreamTable {
  readonly #streams = new Map<number, MuxStream>();
  readonly #lingering = new Set<number>();
  readonly #peerParity: number;
  #nextLocalId: number;
  #lastPeerId = 0;
  /** Live streams this side opened / the peer opened. */
  localOpen = 0;
  peerOpen = 0;

  constructor(role: 'client' | 'server') {
    this.#nextLocalId = role === 'client' ? 1 : 2;
    this.#peerParity = role === 'client' ? 0 : 1;
  }

  get size(): number {
    return this.#streams.size;
  }

  get lastPeerId(): number {
    return this.#lastPeerId;
  }

  get idsLeft(): boolean {
    return this.#nextLocalId <= MAX_STREAM_ID;
  }

  get(id: number): MuxStream | undefined {
    return this.#streams.get(id);
  }

  /** A snapshot, safe to iterate while streams come and go. */
  all(): MuxStream[] {
    return [...this.#streams.values()];
  }

  /** Take the next local id (the caller checked idsLeft). */
  takeLocalId(): number {
    const id = this.#nextLocalId;
    this.#nextLocalId += 2;
    return id;
  }

  isPeerId(id: number): boolean {
    return (id & 1) === this.#peerParity;
  }

  /** A SYN for a new peer id: ids must grow. */
  acceptPeerId(id: number): void {
    if (id <= this.#lastPeerId) {
      throw new MuxError('ERR_MUX_PROTOCOL', `SYN reuses the closed stream id ${id}`);
    }
    this.#lastPeerId = id;
  }

  add(stream: MuxStream): void {
    this.#streams.set(stream.id, stream);
    if (stream.isLocal) this.localOpen++;
    else this.peerOpen++;
  }

  /** False when the stream was not (or no longer) in the table. */
  remove(stream: MuxStream): boolean {
    if (this.#streams.get(stream.id) !== stream) return false;
    this.#streams.delete(stream.id);
    if (stream.isLocal) this.localOpen--;
    else this.peerOpen--;
    return true;
  }

  /** Remember a stream closed here whose peer may still send; false when too many are. */
  linger(id: number): boolean {
    if (this.#lingering.size >= MAX_LINGERING) return false;
    this.#lingering.add(id);
    return true;
  }

  /** Forget a lingering id; true if it was one. */
  unlinger(id: number): boolean {
    return this.#lingering.delete(id);
  }

  /** A frame for a stream we don't have: fine if it existed once, an error if it never did. */
  checkKnown(id: number, what: string): void {
    const opened = this.isPeerId(id) ? id <= this.#lastPeerId : id < this.#nextLocalId;
    if (!opened) {
      throw new MuxError('ERR_MUX_PROTOCOL', `${what} for stream ${id}, which was never opened`);
    }
  }

  /** Empty the table (the session failed); returns what was in it. */
  clear(): MuxStream[] {
    const streams = this.all();
    this.#streams.clear();
    this.#lingering.clear();
    this.localOpen = 0;
    this.peerOpen = 0;
    return streams;
  }
}
