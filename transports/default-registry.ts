import type { Logger } from '../src/fd/logger.js';
import { Registry } from '../src/fd/registry.js';
import { kcpTransport } from './kcp/index.js';
import { kcptunTransport } from './kcptun/transport.js';
import { muxLayer } from './mux/index.js';
import { tcpTransport } from './tcp/index.js';
import { tlsLayer } from './tls/index.js';
import { udpTransport } from './udp/index.js';
import { wsLayer } from './ws/index.js';

/**
 * A registry with every transport and layer this build ships. `logger` hears deprecated
 * option spellings (once per address), a ws without the hook raw mode needs, and kcp://
 * peers whose fec= differs.
 */
export function createDefaultRegistry(logger?: Logger): Registry {
  return new Registry(logger === undefined ? {} : { logger })
    .registerTransport(tcpTransport)
    .registerTransport(kcpTransport(logger))
    .registerTransport(kcptunTransport())
    .registerDatagram(udpTransport)
    .registerLayer(tlsLayer())
    .registerLayer(muxLayer())
    .registerLayer(wsLayer({}, logger))
    .registerAlias('wss', 'ws+tls+tcp');
}
