import type { EventEmitter } from 'node:events';
import type { BoundAddress } from './server-fd.js';

export interface DatagramFDEvents {
  message: [data: Buffer, from: BoundAddress];
  error: [err: Error];
}

/** An unreliable, unordered datagram endpoint (UDP; the lower layer of KCP). */
export interface DatagramFD extends EventEmitter<DatagramFDEvents> {
  readonly kind: string;
  address(): BoundAddress;
  /** Fire-and-forget, like UDP itself: send failures surface as `'error'` events. */
  send(data: Uint8Array, to: BoundAddress): void;
  close(): Promise<void>;
}
