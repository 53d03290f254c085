import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { EventEmitter, once } from 'node:events';
import { isIP, isIPv6 } from 'node:net';
import type { Address } from '../../src/fd/address.js';
import type { DatagramFD, DatagramFDEvents } from '../../src/fd/datagram-fd.js';
import { layerOptions, type OptionSchema } from '../../src/fd/layer-options.js';
import { intOption } from '../../src/fd/options.js';
import type { BoundAddress } from '../../src/fd/server-fd.js';
import type { DatagramTransport } from '../../src/fd/transport.js';

interface UdpOptions {
  readonly rcvbuf: number;
  readonly sndbuf: number;
}

const UDP_SCHEMA: OptionSchema<UdpOptions> = {
  prefix: 'udp',
  specs: [
    { name: 'rcvbuf', description: 'SO_RCVBUF bytes (default: the OS default)' },
    { name: 'sndbuf', description: 'SO_SNDBUF bytes (default: the OS default)' },
  ],
  parse: (view) => ({
    rcvbuf: intOption(view, 'rcvbuf', 0, 0, 1 << 30),
    sndbuf: intOption(view, 'sndbuf', 0, 0, 1 << 30),
  }),
};

export const udpTransport: DatagramTransport = {
  scheme: 'udp',
  options: UDP_SCHEMA.specs,
  schema: UDP_SCHEMA,
  async bind(address: Address): Promise<DatagramFD> {
    const { rcvbuf, sndbuf } = layerOptions(address, UDP_SCHEMA);
    const socket = createSocket({
      type: isIPv6(address.host) ? 'udp6' : 'udp4',
      lookup: literalLookup,
      ...(rcvbuf > 0 ? { recvBufferSize: rcvbuf } : {}),
      ...(sndbuf > 0 ? { sendBufferSize: sndbuf } : {}),
    });
    // Listened for before bind: with an IP literal the lookup is synchronous, and so is
    // the 'listening' event.
    const listening = once(socket, 'listening');
    socket.bind(address.port, address.host);
    try {
      await listening;
    } catch (err) {
      socket.close();
      throw err;
    }
    return new UdpFD(socket);
  },
};

// The last literal looked up: a listener answers the same few clients datagram after
// datagram, and node:dgram looks the address up on every send.
let lastLiteral = '';
let lastFamily = 0;

/**
 * An IP literal resolves at once, in the caller's turn: node's default goes through
 * dns.lookup, which defers every send to an address (a relay's return path sends each
 * datagram to an address) by a tick and a callback. Names still go to dns.lookup.
 */
const literalLookup: NonNullable<SocketOptions['lookup']> = (hostname, options, callback) => {
  if (hostname === lastLiteral) {
    callback(null, hostname, lastFamily);
    return;
  }
  const family = isIP(hostname);
  if (family !== 0) {
    lastLiteral = hostname;
    lastFamily = family;
    callback(null, hostname, family);
  } else {
    dnsLookup(hostname, options, callback);
  }
};

class UdpFD extends EventEmitter<DatagramFDEvents> implements DatagramFD {
  readonly kind = 'udp';
  readonly #socket: Socket;
  readonly #bound: BoundAddress;
  #closed = false;

  constructor(socket: Socket) {
    super();
    this.#socket = socket;
    const info = socket.address();
    this.#bound = { host: info.address, port: info.port };
    socket.on('message', (data, rinfo) =>
      this.emit('message', data, { host: rinfo.address, port: rinfo.port }),
    );
    socket.on('error', (err) => this.emit('error', err));
  }

  address(): BoundAddress {
    return this.#bound;
  }

  send(data: Uint8Array, to: BoundAddress): void {
    if (this.#closed) return;
    this.#socket.send(data, to.port, to.host, this.#sent);
  }

  /**
   * `send` without hearing of its failure: node:dgram queues a tick per send that takes a
   * callback (and runs the tick queue after every received datagram), about 0.3 us of a
   * relay's ~4.5 us per datagram. For a relay's hot path, where a failed send is a lost
   * datagram like any other (udp-lb's return path); socket errors still come as 'error'.
   */
  sendUnchecked(data: Uint8Array, to: BoundAddress): void {
    if (this.#closed) return;
    this.#socket.send(data, to.port, to.host);
  }

  /** One callback for every send (not a closure per datagram). */
  readonly #sent = (err: Error | null): void => {
    if (err && !this.#closed) this.emit('error', err);
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }
}
