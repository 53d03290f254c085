import type { Address } from '../../src/fd/address.js';
import type { ServerFD } from '../../src/fd/server-fd.js';
import type { StreamFD } from '../../src/fd/stream-fd.js';
import type { ConnectOptions, ListenOptions, Transport } from '../../src/fd/transport.js';
import { MuxTransport } from '../mux/index.js';
import { kcpSessionTransport } from './session/transport.js';

export { DatagramCipher, deriveKey } from './crypto.js';
export { KCP_OPTIONS, kcpOptionsFromAddress } from './options.js';
export { CookieJar } from './session/cookie.js';
export { EndpointStats, KcpEndpoint } from './session/endpoint.js';
export { KcpStream } from './session/kcp-stream.js';
export { KcpScheduler, sharedScheduler } from './session/scheduler.js';
export { KcpSession } from './session/session.js';
export { KcpServerFD, kcpSessionTransport } from './session/transport.js';

/**
 * `kcp://host:port?mode=fast3&…`: TCP-like streams multiplexed (mux layer, h2-style framing
 * with per-stream flow control) over KCP sessions on UDP. connect() opens a stream on a
 * shared session to the address (made lazily, reused while healthy, replaced when it dies);
 * listen() accepts sessions and emits each of their streams as a 'connection'. The address
 * takes the kcp options (KCP_OPTIONS) and the mux ones (ping, window, …).
 */
export function kcpTransport(): Transport {
  return new KcpTransport();
}

/**
 * KCP links are long and lossy: a per-stream mux window below KCP's own send window
 * (1024 × mtu) caps one stream far below the link (measured: 27 vs 34 Mbit/s on a
 * 50 Mbit/s, 50 ms link). The window defaults above that, so KCP's window is what limits.
 */
class KcpTransport extends MuxTransport {
  readonly #withDefaults = new WeakMap<Address, Address>();

  constructor() {
    super(kcpSessionTransport, 'kcp');
  }

  override connect(address: Address, options?: ConnectOptions): Promise<StreamFD> {
    return super.connect(this.#defaults(address), options);
  }

  override listen(address: Address, options?: ListenOptions): Promise<ServerFD> {
    return super.listen(this.#defaults(address), options);
  }

  override pool(address: Address): ReturnType<MuxTransport['pool']> {
    return super.pool(this.#defaults(address));
  }

  #defaults(address: Address): Address {
    if (address.options.window !== undefined) return address;
    let a = this.#withDefaults.get(address);
    if (a === undefined) {
      a = { ...address, options: { ...address.options, window: String(KCP_STREAM_WINDOW) } };
      this.#withDefaults.set(address, a);
    }
    return a;
  }
}

/** Per-stream mux window over KCP: 2 MiB, above a fast3 send window of 1024 × 1350 bytes. */
export const KCP_STREAM_WINDOW = 2 * 1024 * 1024;
