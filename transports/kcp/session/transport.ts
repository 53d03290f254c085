import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Address } from '../../../src/fd/address.js';
import { VproxyError } from '../../../src/fd/errors.js';
import { layerOptions } from '../../../src/fd/layer-options.js';
import { type Logger, quietLogger } from '../../../src/fd/logger.js';
import type { BoundAddress, ServerFD, ServerFDEvents } from '../../../src/fd/server-fd.js';
import type { StreamFD } from '../../../src/fd/stream-fd.js';
import type { ConnectOptions, Transport } from '../../../src/fd/transport.js';
import { DatagramCipher } from '../crypto.js';
import { KCP_OPTIONS, KCP_SCHEMA, type KcpAddressOptions } from '../options.js';
import { type EndpointOptions, KcpEndpoint } from './endpoint.js';
import { KcpStream } from './kcp-stream.js';

/**
 * One KCP session as one StreamFD: connect() binds a fresh UDP socket (ephemeral port, random
 * conv) and returns a KcpStream at once (KCP has no handshake: the layer above has one);
 * listen() emits a KcpStream per accepted session. `kcp://` is mux over this; both read
 * KCP_SCHEMA's one parsed object.
 */
export function kcpSessionTransportWith(logger: Logger): Transport {
  return {
    scheme: 'kcp-session',
    options: KCP_OPTIONS,
    async connect(address: Address, options: ConnectOptions = {}): Promise<StreamFD> {
      const opts = layerOptions(address, KCP_SCHEMA, 'kcp').session;
      const ip = isIP(address.host) ? address.host : (await lookup(address.host)).address;
      if (options.signal?.aborted) {
        throw new VproxyError('ERR_CONNECT_ABORTED', `kcp connect to ${address.host}: aborted`);
      }
      const endpoint = await KcpEndpoint.connect(ip, address.port, endpointOptions(opts, logger));
      const session = endpoint.openSession({ host: ip, port: address.port }, randomConv());
      return new KcpStream(session, endpoint.address());
    },
    async listen(address: Address): Promise<ServerFD> {
      const opts = layerOptions(address, KCP_SCHEMA, 'kcp').session;
      const server = new KcpServerFD();
      server.endpoint = await KcpEndpoint.listen(
        address.host,
        address.port,
        endpointOptions(opts, logger),
        (session) => server.emit('connection', new KcpStream(session, server.address())),
      );
      return server;
    },
  };
}

/** The session transport whose fec= mismatches go only to `vproxy:log` subscribers. */
export const kcpSessionTransport: Transport = kcpSessionTransportWith(quietLogger);

function endpointOptions(opts: KcpAddressOptions, logger: Logger): EndpointOptions {
  return {
    session: opts.session,
    cipher:
      opts.key === undefined
        ? null
        : DatagramCipher.fromPassphrase(opts.key, undefined, opts.crypt),
    maxSessions: opts.maxSessions,
    rcvbuf: opts.rcvbuf,
    sndbuf: opts.sndbuf,
    fec: opts.fec,
    logger,
  };
}

function randomConv(): number {
  // conv 0 is what reference peers use: ours never collide with one.
  return randomBytes(4).readUInt32LE(0) || 1;
}

/** Accepted KCP sessions as StreamFDs. close() stops accepting; the socket outlives it while sessions remain. */
export class KcpServerFD extends EventEmitter<ServerFDEvents> implements ServerFD {
  readonly kind = 'kcp-session';
  endpoint!: KcpEndpoint;

  address(): BoundAddress {
    return this.endpoint.address();
  }

  close(): Promise<void> {
    return this.endpoint.close();
  }
}
