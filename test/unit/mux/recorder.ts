import type { FrameHandler } from '../../../transports/mux/parser.js';
import type { MuxSettings } from '../../../transports/mux/settings.js';

/** A parsed frame as plain data, DATA payloads re-joined, so split inputs compare equal. */
export type Event =
  | { t: 'data'; id: number; flags: number; payload: string }
  | { t: 'headers'; id: number; flags: number }
  | { t: 'settings'; settings: MuxSettings | null }
  | { t: 'ping'; ack: boolean; payload: string }
  | { t: 'goaway'; last: number; code: number; reason: string }
  | { t: 'window'; id: number; increment: number };

/** A FrameHandler that records what the parser delivers and checks the DATA call order. */
export class Recorder implements FrameHandler {
  readonly events: Event[] = [];
  #data: { id: number; flags: number; length: number; parts: Buffer[] } | null = null;

  onDataStart(streamId: number, flags: number, length: number): void {
    if (this.#data !== null) throw new Error('onDataStart inside a DATA frame');
    this.#data = { id: streamId, flags, length, parts: [] };
  }

  onDataChunk(streamId: number, chunk: Buffer): void {
    if (this.#data === null || this.#data.id !== streamId) throw new Error('stray onDataChunk');
    if (chunk.length === 0 && (this.#data.flags & 0x4) === 0) throw new Error('empty chunk');
    this.#data.parts.push(Buffer.from(chunk));
  }

  onDataEnd(streamId: number, flags: number): void {
    const d = this.#data;
    if (d === null || d.id !== streamId || d.flags !== flags) throw new Error('stray onDataEnd');
    const payload = Buffer.concat(d.parts);
    if (payload.length !== d.length) throw new Error('DATA length mismatch');
    this.events.push({ t: 'data', id: streamId, flags, payload: payload.toString('hex') });
    this.#data = null;
  }

  onHeaders(streamId: number, flags: number): void {
    this.events.push({ t: 'headers', id: streamId, flags });
  }

  onSettings(settings: MuxSettings | null): void {
    this.events.push({ t: 'settings', settings });
  }

  onPing(ack: boolean, payload: Buffer): void {
    this.events.push({ t: 'ping', ack, payload: payload.toString('hex') });
  }

  onGoaway(lastStreamId: number, code: number, reason: string): void {
    this.events.push({ t: 'goaway', last: lastStreamId, code, reason });
  }

  onWindowUpdate(streamId: number, increment: number): void {
    this.events.push({ t: 'window', id: streamId, increment });
  }
}
