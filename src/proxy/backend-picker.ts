import type { Address } from '../fd/address.js';
import type { StreamFD } from '../fd/stream-fd.js';

export interface PickContext {
  /** The accepted client stream (its address drives source hashing, security groups…). */
  readonly client: StreamFD;
}

/** Chooses where a client connection goes: a ServerGroup, an Upstream, a socks5 request… */
export interface BackendPicker {
  /** `null` means no backend is available: the client is closed. */
  pick(context: PickContext): Address | null | Promise<Address | null>;
  /** A connect to a picked backend failed: passive health checking hooks in here. */
  connectFailed?(target: Address, err: Error): void;
}
