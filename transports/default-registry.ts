import { Registry } from '../src/fd/registry.js';
import { kcpTransport } from './kcp/index.js';
import { muxLayer } from './mux/index.js';
import { tcpTransport } from './tcp/index.js';
import { tlsLayer } from './tls/index.js';
import { udpTransport } from './udp/index.js';
import { wsLayer } from './ws/index.js';

/** A registry with every transport and layer this build ships. */
export function createDefaultRegistry(): Registry {
  return new Registry()
    .registerTransport(tcpTransport)
    .registerTransport(kcpTransport())
    .registerDatagram(udpTransport)
    .registerLayer(tlsLayer())
    .registerLayer(muxLayer())
    .registerLayer(wsLayer())
    .registerAlias('wss', 'ws+tls+tcp');
}
