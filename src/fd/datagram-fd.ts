import type { EventEmitter } from 'node:events';
import type { BoundAddress } from './server-fd.js';

export interface DatagramFDEvents {
  message: [data: Buffer, from: BoundAddress];
  error: [err: Error];
}

/**
 * An unreliable, unordered datagram endpoint: `udp://` (the socks5 UDP relay binds one),
 * and what packet layers (kcp-go crypt, FEC: `packetLayer` in session-layer.ts) wrap.
 *
 * KCP's sessions do not run over it: a KcpEndpoint owns its node:dgram socket
 * (transports/kcp/session/endpoint.ts). Its client socket is connected, so a send names no
 * peer and skips node's per-datagram lookup; its sends take no callback; received
 * datagrams are demultiplexed before any event is emitted. An interface that names the
 * peer on every send and emits one event per datagram would put that back on the hot path.
 */
export interface DatagramFD extends EventEmitter<DatagramFDEvents> {
  readonly kind: string;
  address(): BoundAddress;
  /** Fire-and-forget, like UDP itself: send failures surface as `'error'` events. */
  send(data: Uint8Array, to: BoundAddress): void;
  close(): Promise<void>;
}
