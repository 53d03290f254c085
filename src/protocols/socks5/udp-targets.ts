import { unmapIPv4 } from '../inet.js';
import { toEndpoint } from './address.js';
import { type Socks5UdpHeader, udpHeaderLength, writeUdpHeader } from './udp-header.js';

/**
 * What a UDP relay remembers of its targets (RFC 1928 §7): the address a
 * domain target resolved to, and for each `ip:port` sent to, the header that
 * wraps its answers — so an answer from anywhere else is recognised and
 * dropped. Both tables are bounded; the oldest entry is forgotten first.
 */
export class UdpTargetBook {
  readonly #headers = new Map<string, Buffer>();
  readonly #resolved = new Map<string, string>();
  readonly #max: number;

  constructor(maxTargets = 1024) {
    this.#max = maxTargets;
  }

  /**
   * The IP to send a datagram with this header to: `go` at once for an
   * address (or a name resolved before), after `lookup` for a new name;
   * `fail` when it does not resolve. `alive` is asked before a late `go`.
   */
  resolve(
    header: Socks5UdpHeader,
    lookup: (host: string) => Promise<string>,
    go: (ip: string) => void,
    fail: () => void,
    alive: () => boolean,
  ): void {
    if (header.addressType !== 'domain') {
      go(unmapIPv4(header.host));
      return;
    }
    const known = this.#resolved.get(header.host);
    if (known !== undefined) {
      go(known);
      return;
    }
    lookup(header.host).then((ip) => {
      if (!alive()) return;
      const plain = unmapIPv4(ip);
      remember(this.#resolved, header.host, plain, 256);
      go(plain);
    }, fail);
  }

  /** Answers from `ip:port` are expected from now on. */
  note(ip: string, port: number): void {
    const key = `${ip}|${port}`;
    if (this.#headers.has(key)) return;
    const endpoint = toEndpoint(ip, port);
    const header = Buffer.allocUnsafe(udpHeaderLength(endpoint));
    writeUdpHeader(endpoint, header, 0);
    remember(this.#headers, key, header, this.#max);
  }

  /** An answer from `ip:port` in one buffer behind its header; null from a source never sent to. */
  wrap(ip: string, port: number, payload: Buffer): Buffer | null {
    const header = this.#headers.get(`${ip}|${port}`);
    if (header === undefined) return null;
    const out = Buffer.allocUnsafe(header.length + payload.length);
    header.copy(out, 0);
    payload.copy(out, header.length);
    return out;
  }
}

/** Insert into a bounded map, forgetting the oldest entry when full. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  if (map.size >= max && !map.has(key)) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
